"""The hostile-input battery against the end-of-call log (issue 12, docs/HOSTILE_INPUT.md): end times
that cannot belong to the call, logs PostgreSQL cannot hold, logs nested to break the serialisers, and
attempts to rewrite a stored log. Each probe is a request an attacker or a careless client sent; each
must be a 4xx with a code, or stored, or listed for the operator, and never a 500 or a retry loop."""
from __future__ import annotations

import datetime as dt
import importlib
import json
import logging

import pytest
import requests
from django.db import OperationalError, connection
from django_tenants.utils import schema_context

from backoffice.tests.factories import call_make
from calls.models import Call, ToolInvocation
from calls.tests.test_call_log_ingestion import (
    a_log,
    broker_at,
    dead_port,
    post_log,
    start_call,
    stored_call,
    turns_of,
    wait_until,
)
from core import clock
from voiceapi.tests.voice_api import assert_error, tool
from voiceapi.tokens import call_token_issue


def call_row(schema: str, call_id) -> Call:
    with schema_context(schema):
        return Call.objects.get(pk=call_id)


def post_raw(api_server, call_id, token: str, body: str) -> requests.Response:
    """A body as written, for what `json.dumps` cannot produce (`1e400`, a 900-deep list)."""
    return requests.post(f"{api_server.url}/internal/calls/{call_id}/log", data=body.encode(),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                         timeout=10)


def nested(depth: int) -> dict:
    """An object `depth` levels deep: {"a": {"a": ... {"a": "bottom"}}}."""
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def assert_nothing_written(schema: str, call_id) -> None:
    call = call_row(schema, call_id)
    assert (call.status, call.ended_at, call.log_received_at, call.outcome) == ("active", None, None, "")


# --- 1. end times that cannot belong to the call -----------------------------------------------

@pytest.mark.parametrize(("ended_at", "says"), [
    ("0001-01-01T00:00:00+14:00", "must not be before the call started"),
    ("0001-01-01T00:00:00", "must not be before the call started"),
    ("9999-12-31T23:59:59-12:00", "must not be in the future"),
    ("9999-12-31T23:59:59", "must not be in the future"),
    ("an hour before the call", "must not be before the call started"),
    ("a day from now", "must not be in the future"),
])
def test_it_refuses_an_end_time_that_cannot_belong_to_the_call(committed_db, api_server, ended_at, says):
    call, token = start_call("salon")
    ended_at = {"an hour before the call": (call.started_at - dt.timedelta(hours=1)).isoformat(),
                "a day from now": (clock.now() + dt.timedelta(days=1)).isoformat()}.get(ended_at, ended_at)
    log = {**a_log(), "ended_at": ended_at}

    error = assert_error(post_log(api_server, call.pk, token, log), 422, "invalid_end_time")
    without_duration = post_log(api_server, call.pk, token, {key: value for key, value in log.items()
                                                            if key != "duration_seconds"})

    assert error["message"].startswith(f"The field ended_at {says}")
    assert_error(without_duration, 422, "invalid_end_time")
    assert_nothing_written("salon", call.pk)


def test_it_takes_an_end_time_a_little_off_as_the_clocks_disagreeing(committed_db, api_server):
    call, token = start_call("salon", started_at=clock.now() - dt.timedelta(seconds=30))
    log = {key: value for key, value in a_log().items() if key != "duration_seconds"}
    log["ended_at"] = (call.started_at - dt.timedelta(minutes=2)).isoformat()  # the worker's clock is behind

    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        assert post_log(api_server, call.pk, token, log).status_code == 503  # metadata saved

    stored = call_row("salon", call.pk)
    assert (stored.status, stored.ended_at, stored.duration_seconds) == ("ended", call.started_at, 0)


def test_a_tenant_with_an_impossible_end_time_stored_gets_its_admin_back(salon_admin):
    """What an earlier version stored (1 BC; year 10000 UTC with a duration given) broke every page
    listing the call; migration 0006 repairs the rows."""
    repair = importlib.import_module("calls.migrations.0006_repair_impossible_end_times").REPAIR_SQL
    started_at = dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)
    with schema_context("salon"):
        ancient = call_make(started_at=started_at, duration_seconds="0")
        future = call_make(started_at=started_at, duration_seconds="95")
        fine = call_make(started_at=started_at, duration_seconds="42")
        with connection.cursor() as cursor:
            cursor.execute("UPDATE calls_call SET ended_at = %s, log_received_at = %s WHERE id = %s",
                           ["0001-01-01T00:00:00+14:00", started_at + dt.timedelta(minutes=5), ancient.pk])
            cursor.execute("UPDATE calls_call SET ended_at = %s, log_received_at = %s WHERE id = %s",
                           ["9999-12-31T23:59:59-12:00", started_at + dt.timedelta(minutes=5), future.pk])
        with pytest.raises(Exception, match="too small|too large|out of range"):
            Call.objects.get(pk=ancient.pk)  # what every admin page listing it did: a 500

        with connection.cursor() as cursor:
            cursor.execute(repair)

        assert Call.objects.get(pk=ancient.pk).ended_at == started_at
        assert Call.objects.get(pk=future.pk).ended_at == started_at + dt.timedelta(seconds=95)
        assert Call.objects.get(pk=fine.pk).ended_at == started_at + dt.timedelta(seconds=42)
    assert salon_admin.get("/admin/calls/call/").status_code == 200
    assert salon_admin.get(f"/admin/calls/call/{ancient.pk}/change/").status_code == 200
    assert salon_admin.get("/admin/").status_code == 200


# --- 2. poison logs ----------------------------------------------------------------------------

POISON_ARGUMENTS = '{"ser\\u0000vice": "hair\\u0000cut", "note\\ud800": "lone \\udfff", "n": 1e400, "m": -1e999, ' \
                   '"list": [{"x": "\\u0000"}, 1.5, 7]}'
POISON_RESULT = '{"ok": true, "message": "booked \\ud83d", "at": 1e400}'


def test_it_stores_tool_calls_postgresql_cannot_hold_as_clean_json(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    log = a_log(turns=2)
    log["tool_calls"][0]["arguments"] = "@ARGUMENTS@"
    log["tool_calls"][1]["result"] = "@RESULT@"
    body = json.dumps(log).replace('"@ARGUMENTS@"', POISON_ARGUMENTS).replace('"@RESULT@"', POISON_RESULT)

    response = post_raw(api_server, call.pk, token, body)

    assert response.status_code == 202, response.text
    wait_until(lambda: stored_call("salon", call.pk), what="the log")
    with schema_context("salon"):
        arguments = ToolInvocation.objects.get(call_id=call.pk, sequence=1).arguments
        result = ToolInvocation.objects.get(call_id=call.pk, sequence=2).result
    assert arguments == {"service": "haircut", "note?": "lone ?", "n": None, "m": None,
                         "list": [{"x": ""}, 1.5, 7]}
    assert result == {"ok": True, "message": "booked ?", "at": None}


@pytest.mark.parametrize(("where", "depth"), [("arguments", 900), ("arguments", 17), ("result", 40)])
def test_it_refuses_a_tool_call_nested_absurdly_deep_before_writing_anything(committed_db, api_server, where, depth):
    call, token = start_call("salon")
    log = a_log()
    log["tool_calls"][1][where] = "@DEEP@"
    body = json.dumps(log).replace('"@DEEP@"', '{"a": ' * depth + "0" + "}" * depth)

    error = assert_error(post_raw(api_server, call.pk, token, body), 400, "invalid_request")

    assert error["message"] == f"The field tool_calls[1].{where} must not be nested more than 16 levels deep."
    assert_nothing_written("salon", call.pk)


def test_it_stores_a_tool_call_nested_as_deep_as_allowed(committed_db, api_server, celery_worker_process):
    call, token = start_call("salon")
    log = a_log()
    log["tool_calls"][0]["arguments"] = nested(16)

    assert post_log(api_server, call.pk, token, log).status_code == 202

    wait_until(lambda: stored_call("salon", call.pk), what="the log")
    with schema_context("salon"):
        assert ToolInvocation.objects.get(call_id=call.pk, sequence=1).arguments == nested(16)


def test_the_task_cleans_a_poison_log_an_earlier_version_queued(committed_db, celery_worker_process):
    from calls.tasks import call_log_store

    call, _ = start_call("salon")
    payload = {"transcript": [{"role": "user", "text": "caf\u00e9 \x00 \ud800"}],
               "tool_calls": [{"name": "log_note", "arguments": {"no\x00te": "\udfff"}, "result": {}}],
               "usage": {}, "latency": []}
    with schema_context("salon"):
        call_log_store.delay(call_id=str(call.pk), payload=payload)

    wait_until(lambda: stored_call("salon", call.pk), what="the log")
    assert turns_of("salon", call.pk) == [(1, "user", "caf\u00e9  ?")]
    with schema_context("salon"):
        assert ToolInvocation.objects.get(call_id=call.pk).arguments == {"note": "?"}


def test_the_dead_letter_keeps_what_jsonb_cannot_hold(committed_db, celery_worker_process, dead_letters):
    from calls.tasks import call_log_store

    call, _ = start_call("pizzeria")
    # Too deep for the store (an earlier version queued it): dead-lettered at once, with its NULs.
    payload = {"transcript": [{"role": "user", "text": "a \x00 b \ud800"}],
               "tool_calls": [{"name": "x", "arguments": {"k\x00": nested(30)}, "result": {}}],
               "usage": {}, "latency": []}
    with schema_context("pizzeria"):
        call_log_store.delay(call_id=str(call.pk), payload=payload)

    dead_letter = wait_until(lambda: dead_letters().first(), what="the dead letter")
    assert (dead_letter.call_id, dead_letter.attempts) == (call.pk, 1)
    assert dead_letter.error.startswith("JsonTooDeep")
    assert "\\u0000" in dead_letter.payload and "\\ud800" in dead_letter.payload
    assert json.loads(dead_letter.payload) == payload
    assert turns_of("pizzeria", call.pk) == []


def test_the_task_gives_up_after_a_bounded_number_of_retries_when_even_the_dead_letter_fails(
        committed_db, settings, monkeypatch, caplog):
    """The database refuses the dead letter too (it is down): the task retries, a bounded number of
    times, then logs the payload for the operator instead of retrying forever."""
    from calls import log_storage
    from calls.tasks import call_log_store

    settings.CALL_LOG_STORE_MAX_RETRIES = 1
    settings.CALL_LOG_DEAD_LETTER_MAX_RETRIES = 2
    attempts = []

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    def dead_letter_refused(**kwargs):
        attempts.append(kwargs["attempts"])
        raise OperationalError("connection refused")

    monkeypatch.setattr(log_storage, "call_log_store", database_down)
    monkeypatch.setattr(log_storage, "ingestion_dead_letter_create", dead_letter_refused)
    payload = {"transcript": [{"role": "user", "text": "keep me \x00"}], "tool_calls": [], "usage": {},
               "latency": []}

    with caplog.at_level(logging.CRITICAL, logger="calls.ingestion"):
        result = call_log_store.apply(kwargs={"call_id": "5e4c8f4e-0000-4000-8000-000000000001",
                                              "payload": payload})

    assert result.state == "FAILURE"
    # Attempt 1 retries the store; attempt 2 gives up on it and fails to dead-letter; 3 and 4 retry that.
    assert attempts == [2, 3, 4]
    [record] = [record for record in caplog.records if record.levelno == logging.CRITICAL]
    assert "keep me \\u0000" in record.getMessage()


# --- 3. a stored log is not rewritten ----------------------------------------------------------

def test_the_identical_log_is_already_stored_and_a_different_one_a_conflict(committed_db, api_server,
                                                                              celery_worker_process):
    call, token = start_call("salon")
    log = {key: value for key, value in a_log().items() if key != "ended_at"}  # ended_at: when it arrives
    assert post_log(api_server, call.pk, token, log).status_code == 202
    wait_until(lambda: stored_call("salon", call.pk), what="the log")
    before = call_row("salon", call.pk)
    # A genuine token, long expired but within the log's grace period.
    late_token = call_token_issue(schema_name="salon", call_id=str(call.pk), max_call_seconds=600,
                                  issued_at=clock.now() - dt.timedelta(days=6))

    again = post_log(api_server, call.pk, late_token, log)
    rewritten = post_log(api_server, call.pk, late_token, {**log, "transcript": log["transcript"][:1]})
    new_outcome = post_log(api_server, call.pk, token, {**log, "outcome": "answered"})

    assert (again.status_code, again.json()) == (200, {"ok": True, "call_id": str(call.pk), "status": "already_stored"})
    assert_error(rewritten, 409, "log_already_received")
    assert_error(new_outcome, 409, "log_already_received")
    after = call_row("salon", call.pk)
    assert len(turns_of("salon", call.pk)) == 30
    assert (after.outcome, after.ended_at, after.log_received_at, after.end_reason) == (
        before.outcome, before.ended_at, before.log_received_at, before.end_reason)


def test_a_different_log_while_the_first_waits_for_the_broker_is_a_conflict(committed_db, api_server,
                                                                             celery_worker_process):
    call, token = start_call("salon")
    first = a_log(said="first")
    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        assert post_log(api_server, call.pk, token, first).status_code == 503

    other = post_log(api_server, call.pk, token, a_log(said="second", outcome="answered"))
    resent = post_log(api_server, call.pk, token, first)  # the worker's spool, Redis back

    assert_error(other, 409, "log_already_received")
    assert resent.status_code == 202
    wait_until(lambda: stored_call("salon", call.pk), what="the first log")
    assert turns_of("salon", call.pk)[0] == (1, "user", "first #1")
    assert call_row("salon", call.pk).outcome == "booked"


def test_end_call_after_the_log_is_call_ended(committed_db, api_server):
    call, token = start_call("salon")
    with broker_at(f"redis://127.0.0.1:{dead_port()}/0"):
        post_log(api_server, call.pk, token, a_log(outcome="booked"))

    response = tool(api_server, token, "end_call", {"reason": "changed my mind", "outcome": "other"})

    assert_error(response, 409, "call_ended")
    assert (call_row("salon", call.pk).outcome, call_row("salon", call.pk).end_reason) == ("booked", "caller said goodbye")


# --- issue 29: framing, the work one log may cost, and the schema's types ------------------------

def raw_http(api_server, request: bytes) -> tuple[int, bytes]:
    """One request written byte for byte on a real socket; (status, body) of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", api_server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_a_chunked_log_is_refused_with_411_and_the_real_log_is_then_taken(committed_db, api_server):
    call, token = start_call("salon")
    body = json.dumps(a_log(turns=3)).encode()
    status, answer = raw_http(api_server, (
        f"POST /internal/calls/{call.pk}/log HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        + chunked(body))
    assert status == 411, answer
    assert json.loads(answer)["error"]["code"] == "length_required"
    assert_nothing_written("salon", call.pk)  # not taken as an empty log

    response = post_log(api_server, call.pk, token, a_log(turns=3))
    assert response.status_code == 202, response.text  # not `log_already_received`


@pytest.mark.parametrize("shape", ["empty lists", "numbers", "objects"])
def test_two_megabytes_of_tiny_values_are_refused_before_they_are_built(committed_db, api_server, shape):
    call, token = start_call("salon")
    element = {"empty lists": "[]", "numbers": "0", "objects": "{}"}[shape]
    count = 1_900_000 // (len(element) + 1)
    body = ('{"tool_calls": [{"name": "x", "arguments": {"a": [' + ",".join([element] * count) + ']}}]}')
    assert len(body) < 2 * 1024 * 1024  # under the byte limit: only the count refuses it
    response = post_raw(api_server, call.pk, token, body)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "JSON values" in response.json()["error"]["message"]
    assert_nothing_written("salon", call.pk)


def test_a_long_real_transcript_with_commas_and_brackets_in_its_text_is_still_taken(committed_db, api_server):
    call, token = start_call("salon")
    log = a_log(turns=400, said="Well, [um], {so}, I'd like, if possible, a cut, a wash, and, oh, a trim, please" * 20)
    assert len(json.dumps(log)) > 600_000
    response = post_log(api_server, call.pk, token, log)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(("field", "value"), [
    ("latency[0].end_of_utterance_ms", False), ("latency[0].turn", True), ("usage.stt_seconds", False),
    ("transcript[0].offset_seconds", True), ("transcript[0].interrupted", 1), ("transcript[0].interrupted", "yes"),
    ("tool_calls[0].is_error", 0),
])
def test_a_value_of_the_wrong_json_type_is_refused_as_the_schema_says(committed_db, api_server, field, value):
    call, token = start_call("salon")
    log = a_log(turns=2)
    part, _, key = field.partition(".")
    name, _, index = part.partition("[")
    target = log[name][int(index[:-1])] if index else log[name]
    target[key] = value
    response = post_log(api_server, call.pk, token, log)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert field in response.json()["error"]["message"]
    assert_nothing_written("salon", call.pk)


def test_an_end_time_with_an_offset_postgresql_cannot_hold_is_stored_in_utc(committed_db, api_server):
    call, token = start_call("salon")
    ended = clock.now().astimezone(dt.timezone(dt.timedelta(hours=21, minutes=57)))
    response = post_log(api_server, call.pk, token, {**a_log(turns=2), "ended_at": ended.isoformat()})
    assert response.status_code == 202, response.text
    assert abs(call_row("salon", call.pk).ended_at - ended) < dt.timedelta(seconds=1)
