"""POST /internal/calls/<call_id>/log and the Celery task that stores it, end to end: a real HTTP
server, a real Celery worker process, real Redis and PostgreSQL (no eager mode)."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

import psycopg
import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from calls.models import Call, ToolInvocation, TranscriptTurn, TransferAttempt
from calls.services import call_start
from core import clock
from core.celery_app import app as celery_app
from tenants.models import IngestionDeadLetter
from voiceapi.tokens import call_token_issue

NUMBERS = {"salon": "+15550100001", "pizzeria": "+493055500002"}


# --- helpers -----------------------------------------------------------------------------------

def start_call(schema: str, *, started_at: dt.datetime | None = None) -> tuple[Call, str]:
    """A call as `/internal/calls/start` creates it, and its call token."""
    started_at = started_at or clock.now() - dt.timedelta(minutes=3)
    with schema_context(schema):
        call = call_start(called_number=NUMBERS[schema], caller_number="+15557654321", now=started_at)
    token = call_token_issue(schema_name=schema, call_id=str(call.pk), max_call_seconds=call.max_call_seconds,
                             issued_at=started_at)
    return call, token


def a_log(*, turns: int = 30, said: str = "I'd like a haircut", outcome: str = "booked") -> dict:
    return {
        "ended_at": clock.now().isoformat(),
        "duration_seconds": 171.25,
        "outcome": outcome,
        "end_reason": "caller said goodbye",
        "transferred_to": "",
        "transcript": [
            {"role": "user" if n % 2 else "assistant", "text": f"{said} #{n}", "offset_seconds": n * 2.5,
             "language": "en", "interrupted": n == 3}
            for n in range(1, turns + 1)
        ],
        "tool_calls": [
            {"name": "check_availability", "arguments": {"service": "haircut", "date": "2026-03-10"},
             "result": {"available": True}, "is_error": False, "offset_seconds": 12.0, "duration_ms": 8},
            {"name": "create_booking", "arguments": {"service": "haircut"}, "result": "slot_taken",
             "is_error": True, "offset_seconds": 30.0, "duration_ms": 11},
        ],
        "usage": {"llm_prompt_tokens": 5400, "llm_completion_tokens": 320, "stt_seconds": 160.5,
                  "tts_characters": 2100},
        "latency": [
            {"turn": 1, "llm_ttft_ms": 400, "tts_ttfb_ms": 150, "end_of_utterance_ms": 600},
            {"turn": 2, "llm_ttft_ms": 600, "tts_ttfb_ms": 250, "end_of_utterance_ms": None},
        ],
    }


def post_log(api_server, call_id, token: str, body, *, timeout: float = 10) -> requests.Response:
    return requests.post(f"{api_server.url}/internal/calls/{call_id}/log", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def wait_until(condition: Callable[[], object], *, timeout: float = 30, what: str = "the condition") -> object:
    """Poll until `condition()` is truthy (the worker is another process; there is nothing to join)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}.")


def stored_call(schema: str, call_id) -> Call | None:
    with schema_context(schema):
        return Call.objects.filter(pk=call_id, log_stored_at__isnull=False).first()


def turns_of(schema: str, call_id) -> list[tuple[int, str, str]]:
    with schema_context(schema):
        return list(TranscriptTurn.objects.filter(call_id=call_id).values_list("sequence", "role", "text"))


def worker_results(worker, since: int, task: str = "calls.call_log_store") -> list[str]:
    """The return values of `task` the worker logged after log offset `since`."""
    lines = worker.log()[since:].splitlines()
    return [line.rsplit(": ", 1)[-1].strip("'") for line in lines if f"Task {task}[" in line and " succeeded in " in line]


@contextlib.contextmanager
def table_locked(schema: str, table: str) -> Iterator[None]:
    """Hold a lock that blocks writes to `table` from another connection, as a long migration or
    a stuck transaction would. The task then hits its lock timeout: a real transient DB error."""
    settings_dict = connection.settings_dict
    with psycopg.connect(host=settings_dict["HOST"] or None, port=settings_dict["PORT"] or None,
                         user=settings_dict["USER"] or None, password=settings_dict["PASSWORD"] or None,
                         dbname=settings_dict["NAME"]) as locker:
        locker.execute(f'LOCK TABLE "{schema}"."{table}" IN EXCLUSIVE MODE')
        try:
            yield
        finally:
            locker.rollback()


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Point the Celery app of this process (the API server's) at another broker URL."""
    original = celery_app.conf.broker_url

    def switch(to: str) -> None:
        # Kombu keeps one connection pool per broker URL; dropping the app's references makes it
        # look the pool up again for the new URL (closing it would break the next switch back).
        celery_app.conf.broker_url = to
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    switch(url)
    try:
        yield
    finally:
        switch(original)


# --- tests -------------------------------------------------------------------------------------

def test_it_stores_each_tenants_log_in_its_own_schema(committed_db, api_server, celery_worker_process):
    salon_call, salon_token = start_call("salon")
    pizzeria_call, pizzeria_token = start_call("pizzeria")

    salon_response = post_log(api_server, salon_call.pk, salon_token, a_log(said="A haircut please"))
    pizzeria_response = post_log(api_server, pizzeria_call.pk, pizzeria_token,
                                 a_log(turns=4, said="Eine Pizza bitte", outcome="ordered"))

    assert (salon_response.status_code, salon_response.json()) == (
        202, {"ok": True, "call_id": str(salon_call.pk), "status": "accepted"})
    assert pizzeria_response.status_code == 202
    salon_stored = wait_until(lambda: stored_call("salon", salon_call.pk), what="the salon log")
    wait_until(lambda: stored_call("pizzeria", pizzeria_call.pk), what="the pizzeria log")

    salon_turns = turns_of("salon", salon_call.pk)
    assert [sequence for sequence, _, _ in salon_turns] == list(range(1, 31))
    assert salon_turns[0] == (1, "user", "A haircut please #1")
    assert turns_of("pizzeria", pizzeria_call.pk)[-1] == (4, "assistant", "Eine Pizza bitte #4")
    # Neither schema holds the other tenant's call.
    with schema_context("salon"):
        assert not Call.objects.filter(pk=pizzeria_call.pk).exists()
        assert list(ToolInvocation.objects.filter(call_id=salon_call.pk).values_list("name", "is_error", "result")) == [
            ("check_availability", False, {"available": True}), ("create_booking", True, "slot_taken")]
    with schema_context("pizzeria"):
        assert not Call.objects.filter(pk=salon_call.pk).exists()
    assert (salon_stored.status, salon_stored.outcome, str(salon_stored.duration_seconds)) == ("ended", "booked", "171.25")
    assert (salon_stored.llm_prompt_tokens, salon_stored.llm_completion_tokens, str(salon_stored.stt_seconds),
            salon_stored.tts_characters) == (5400, 320, "160.50", 2100)
    assert (salon_stored.avg_llm_ttft_ms, salon_stored.avg_tts_ttfb_ms, salon_stored.avg_end_of_utterance_ms) == (
        500, 200, 600)
    assert salon_stored.metrics["latency"][0]["llm_ttft_ms"] == 400


def test_it_keeps_one_copy_of_a_log_sent_twice(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    log = a_log()
    since = len(celery_worker_process.log())

    responses = [post_log(api_server, call.pk, token, log) for _ in range(3)]
    # Each is queued (202), unless the worker had already stored the log when it arrived (200).
    queued = [response.status_code for response in responses].count(202)
    wait_until(lambda: len(worker_results(celery_worker_process, since)) == queued, what="the queued tasks")
    # Once the log is stored, the same log again is recognised without queueing anything.
    again = post_log(api_server, call.pk, token, log)

    assert {response.status_code for response in responses} <= {200, 202}
    assert sorted(worker_results(celery_worker_process, since)) == ["duplicate"] * (queued - 1) + ["stored"]
    assert (again.status_code, again.json()["status"]) == (200, "already_stored")
    assert len(turns_of("salon", call.pk)) == 30
    with schema_context("salon"):
        assert ToolInvocation.objects.filter(call_id=call.pk).count() == 2


def test_it_keeps_one_copy_when_the_same_task_runs_twice_at_once(committed_db, celery_worker_process):
    from calls.tasks import call_log_store

    call, _ = start_call("pizzeria")
    payload = {key: a_log()[key] for key in ("transcript", "tool_calls", "usage", "latency")}
    since = len(celery_worker_process.log())

    # Two deliveries of one task, as after a lost acknowledgement; the worker has two processes.
    with schema_context("pizzeria"):
        call_log_store.delay(call_id=str(call.pk), payload=payload)
        call_log_store.delay(call_id=str(call.pk), payload=payload)
    wait_until(lambda: len(worker_results(celery_worker_process, since)) == 2, what="both tasks")

    assert sorted(worker_results(celery_worker_process, since)) == ["duplicate", "stored"]
    assert len(turns_of("pizzeria", call.pk)) == 30


def test_it_keeps_the_stored_log_when_a_different_one_arrives(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    post_log(api_server, call.pk, token, a_log(turns=30, said="first"))
    wait_until(lambda: stored_call("salon", call.pk), what="the first log")

    response = post_log(api_server, call.pk, token, a_log(turns=5, said="second", outcome="answered"))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "log_already_received"
    assert [text for _, _, text in turns_of("salon", call.pk)] == [f"first #{n}" for n in range(1, 31)]
    assert stored_call("salon", call.pk).outcome == "booked"


def test_it_writes_the_metadata_in_the_request_and_keeps_the_agents_outcome(committed_db, api_server):
    call, token = start_call("salon")
    with schema_context("salon"):
        Call.objects.filter(pk=call.pk).update(outcome="booked", end_reason="booked a haircut")
    log = a_log(outcome="")
    del log["outcome"], log["end_reason"]

    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        response = post_log(api_server, call.pk, token, log)

    assert response.status_code == 503
    with schema_context("salon"):
        call.refresh_from_db()
    assert (call.status, call.outcome, call.end_reason) == ("ended", "booked", "booked a haircut")
    assert call.log_received_at is not None and call.ended_at is not None


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_it_answers_quickly_and_keeps_the_metadata_when_redis_is_down(committed_db, api_server, celery_worker_process,
                                                                      broker):
    call, token = start_call("salon")
    log = a_log()
    with contextlib.ExitStack() as stack:
        if broker == "silent":
            # Accepts connections and never answers: a hung Redis, or a firewall dropping packets.
            silent = stack.enter_context(socket.socket())
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            port = silent.getsockname()[1]
        else:
            port = dead_port()
        stack.enter_context(broker_at(f"redis://127.0.0.1:{port}/0"))
        # The worker's own send gives up after 5 s: the answer must come well before that.
        response = post_log(api_server, call.pk, token, log, timeout=4)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ingestion_unavailable"
    assert response.json()["error"]["details"] == {"metadata_saved": True}
    with schema_context("salon"):
        call.refresh_from_db()
        assert not TranscriptTurn.objects.filter(call_id=call.pk).exists()
    assert (call.status, call.outcome, str(call.duration_seconds)) == ("ended", "booked", "171.25")
    assert call.log_stored_at is None

    # Redis is back: the worker's spooled re-send stores the log, once.
    assert post_log(api_server, call.pk, token, log).status_code == 202
    wait_until(lambda: stored_call("salon", call.pk), what="the re-sent log")
    assert len(turns_of("salon", call.pk)) == 30


def test_it_retries_a_transient_database_error(committed_db, api_server, celery_worker_process, dead_letters):
    call, token = start_call("salon")
    since = len(celery_worker_process.log())

    with table_locked("salon", "calls_transcriptturn"):
        assert post_log(api_server, call.pk, token, a_log()).status_code == 202
        wait_until(lambda: "Retry in" in celery_worker_process.log()[since:], what="the task to retry")
        assert stored_call("salon", call.pk) is None
    wait_until(lambda: stored_call("salon", call.pk), what="the log after the lock is released")

    assert len(turns_of("salon", call.pk)) == 30
    assert not dead_letters().exists()


def test_it_dead_letters_after_the_last_retry_and_replays_it(committed_db, api_server, celery_worker_process,
                                                             dead_letters, capsys):
    call, token = start_call("pizzeria")

    with table_locked("pizzeria", "calls_transcriptturn"):
        assert post_log(api_server, call.pk, token, a_log()).status_code == 202
        dead_letter = wait_until(lambda: dead_letters().first(), what="the dead letter")
    # The worker's test settings: CALL_LOG_STORE_MAX_RETRIES=2, so three attempts in all.
    assert (dead_letter.tenant.slug, dead_letter.call_id, dead_letter.attempts) == ("pizzeria", call.pk, 3)
    assert "lock timeout" in dead_letter.error
    assert turns_of("pizzeria", call.pk) == []

    call_command("replay_dead_letters", "--tenant", "pizzeria", "--id", str(dead_letter.pk))

    assert f"#{dead_letter.pk} pizzeria call {call.pk}: stored" in capsys.readouterr().out
    dead_letter.refresh_from_db()
    assert dead_letter.replayed_at is not None
    assert len(turns_of("pizzeria", call.pk)) == 30
    assert stored_call("pizzeria", call.pk).llm_prompt_tokens == 5400
    # Replayed letters are not replayed again.
    call_command("replay_dead_letters", "--tenant", "pizzeria")
    assert "Nothing to replay." in capsys.readouterr().out


def test_it_dead_letters_a_log_it_can_never_store_at_once(committed_db, celery_worker_process, dead_letters):
    from calls.tasks import call_log_store

    ghost_call_id = str(uuid.uuid4())
    with schema_context("salon"):
        call_log_store.delay(call_id=ghost_call_id, payload={"transcript": [], "tool_calls": [], "usage": {},
                                                             "latency": []})

    dead_letter = wait_until(lambda: dead_letters().first(), what="the dead letter")
    assert (dead_letter.tenant.slug, str(dead_letter.call_id), dead_letter.attempts) == ("salon", ghost_call_id, 1)
    assert dead_letter.error.startswith("DoesNotExist")


def test_the_sweep_closes_abandoned_calls_in_every_tenant(committed_db, celery_worker_process):
    from calls.tasks import calls_close_abandoned

    long_ago = clock.now() - dt.timedelta(hours=1)
    lost_salon, _ = start_call("salon", started_at=long_ago)
    lost_pizzeria, _ = start_call("pizzeria", started_at=long_ago)
    running, _ = start_call("salon", started_at=clock.now() - dt.timedelta(minutes=1))

    calls_close_abandoned.delay()  # as celery beat sends it: from the public schema

    def closed(schema: str, call_id) -> Call | None:
        with schema_context(schema):
            return Call.objects.filter(pk=call_id, status="ended").first()

    salon_call = wait_until(lambda: closed("salon", lost_salon.pk), what="the salon call to close")
    pizzeria_call = wait_until(lambda: closed("pizzeria", lost_pizzeria.pk), what="the pizzeria call to close")
    assert salon_call.outcome == pizzeria_call.outcome == "abandoned"
    assert salon_call.ended_at == long_ago + dt.timedelta(seconds=salon_call.max_call_seconds)
    with schema_context("salon"):
        assert Call.objects.get(pk=running.pk).status == "active"


def test_a_late_log_overrides_the_abandoned_outcome(committed_db, api_server):
    from calls.log_storage import calls_close_abandoned

    call, _ = start_call("salon", started_at=clock.now() - dt.timedelta(hours=1))
    with schema_context("salon"):
        assert calls_close_abandoned() == 1
    # The token issued at call start has expired by now; this test is about the outcome, not that.
    token = call_token_issue(schema_name="salon", call_id=str(call.pk), max_call_seconds=600)

    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        post_log(api_server, call.pk, token, a_log(outcome="answered"))

    with schema_context("salon"):
        call.refresh_from_db()
    assert (call.outcome, call.end_reason) == ("answered", "caller said goodbye")


def test_it_refuses_an_oversized_log_with_413(committed_db, api_server):
    call, token = start_call("salon")
    too_big = a_log(turns=110)
    for turn in too_big["transcript"]:
        turn["text"] = "x" * 19_999  # each turn allowed; the body (about 2.2 MB) is not

    big_response = post_log(api_server, call.pk, token, too_big)
    many_response = post_log(api_server, call.pk, token, a_log(turns=2001))

    assert big_response.status_code == 413
    assert many_response.status_code == 413
    assert many_response.json()["error"]["details"] == {"field": "transcript", "limit": 2000}
    with schema_context("salon"):
        call.refresh_from_db()
    assert call.status == "active" and call.log_received_at is None


TRANSFER_ATTEMPTS = [
    {"target": "tel:+15550100900", "kind": "cold", "offset_seconds": 21.4, "rang_seconds": 18.02,
     "outcome": "no_answer", "sip_status": None},
    {"target": "tel:+15550100900", "kind": "cold", "offset_seconds": 75.0, "rang_seconds": 2.5,
     "outcome": "busy", "sip_status": 486},
]


def test_it_stores_each_transfer_attempt_with_the_calls_metadata_once(committed_db, api_server):
    call, token = start_call("salon")
    log = {**a_log(outcome="callback"), "transfer_attempts": TRANSFER_ATTEMPTS}

    # Stored in the request, with the metadata, even while the broker cannot take the transcript.
    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        assert post_log(api_server, call.pk, token, log).status_code == 503
        assert post_log(api_server, call.pk, token, log).status_code == 503

    with schema_context("salon"):
        attempts = list(TransferAttempt.objects.filter(call=call).values_list(
            "sequence", "target", "outcome", "rang_seconds", "sip_status"))
    assert attempts == [(0, "tel:+15550100900", "no_answer", Decimal("18.02"), None),
                        (1, "tel:+15550100900", "busy", Decimal("2.50"), 486)]


def test_it_refuses_a_transfer_attempt_that_ended_in_a_way_it_does_not_know(committed_db, api_server):
    call, token = start_call("salon")
    log = {**a_log(), "transfer_attempts": [{**TRANSFER_ATTEMPTS[0], "outcome": "voicemail"}]}

    response = post_log(api_server, call.pk, token, log)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("The field transfer_attempts[0].outcome is not valid")
    with schema_context("salon"):
        assert not TransferAttempt.objects.filter(call=call).exists()
        assert Call.objects.get(pk=call.pk).status == "active"


def test_it_refuses_a_log_that_is_not_in_the_agreed_shape(committed_db, api_server):
    call, token = start_call("salon")
    log = a_log()
    log["transcript"][4]["role"] = "robot"

    response = post_log(api_server, call.pk, token, log)
    unknown_outcome = post_log(api_server, call.pk, token, a_log(outcome="abandoned"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"] == (
        "The field transcript[4].role is not valid: Input should be 'user', 'assistant' or 'system'")
    assert unknown_outcome.status_code == 400
    with schema_context("salon"):
        call.refresh_from_db()
    assert call.status == "active"


def test_it_stores_text_postgresql_cannot_hold_as_clean_text(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    log = a_log(turns=1)
    log["transcript"][0]["text"] = "caf\u00e9 \x00 and a lone \ud800 surrogate"

    response = post_log(api_server, call.pk, token, log)  # JSON escapes both as \u0000 and \ud800

    assert response.status_code == 202
    wait_until(lambda: stored_call("salon", call.pk), what="the log")
    assert turns_of("salon", call.pk)[0][2] == "caf\u00e9  and a lone ? surrogate"


def test_it_answers_404_for_a_call_that_does_not_exist(committed_db, api_server):
    ghost = uuid.uuid4()
    token = call_token_issue(schema_name="salon", call_id=str(ghost), max_call_seconds=600)

    response = post_log(api_server, ghost, token, a_log())

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_call"


def test_it_refuses_a_token_for_another_call(committed_db, api_server):
    salon_call, _ = start_call("salon")
    other_salon_call, other_token = start_call("salon")
    _, pizzeria_token = start_call("pizzeria")

    same_tenant = post_log(api_server, salon_call.pk, other_token, a_log())
    other_tenant = post_log(api_server, salon_call.pk, pizzeria_token, a_log())
    no_token = post_log(api_server, salon_call.pk, "", a_log())

    assert same_tenant.status_code == 403 and same_tenant.json()["error"]["code"] == "wrong_call"
    assert other_tenant.status_code in (401, 403)
    assert no_token.status_code == 401
    with schema_context("salon"):
        assert Call.objects.get(pk=salon_call.pk).status == "active"
        assert Call.objects.get(pk=other_salon_call.pk).status == "active"


def test_the_sweep_is_scheduled_every_few_minutes(settings):
    import calls.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does

    entry = settings.CELERY_BEAT_SCHEDULE["calls-close-abandoned"]

    assert entry["task"] in celery_app.tasks
    assert 60 <= entry["schedule"] <= 300


def test_a_replay_that_fails_again_keeps_the_dead_letter(salon):
    dead_letter = IngestionDeadLetter.objects.create(
        tenant=salon, call_id=uuid.uuid4(),
        payload=json.dumps({"transcript": [], "tool_calls": [], "usage": {}, "latency": []}),
        error="OperationalError after 6 attempts: canceling statement due to lock timeout", attempts=6)

    with pytest.raises(CommandError, match="1 dead letter"):
        call_command("replay_dead_letters", "--id", str(dead_letter.pk))

    dead_letter.refresh_from_db()
    assert dead_letter.replayed_at is None
    assert dead_letter.attempts == 7
    assert dead_letter.error.startswith("Replay failed: DoesNotExist")
