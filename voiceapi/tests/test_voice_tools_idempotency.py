"""Idempotency-Key on create requests: the same key within a call replays the first response and
creates nothing new, even when two requests with the key arrive at the same moment."""
import threading
import time

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from calls.models import IdempotencyRecord
from core.errors import DomainError
from voiceapi.idempotency import tool_response_idempotent
from voiceapi.tests.voice_api import a_call, tenant_named


def a_response(label: str):
    return 200, {"ok": True, "result": {"label": label}, "message": f"Done: {label}."}


def test_it_replays_the_first_response_for_a_repeated_key(salon):
    with tenant_context(salon):
        call, _token = a_call(salon)
        runs = []

        def respond():
            runs.append(1)
            return a_response(f"run {len(runs)}")

        first = tool_response_idempotent(call=call, key="k1", action="create_booking", request_hash="h", respond=respond)
        again = tool_response_idempotent(call=call, key="k1", action="create_booking", request_hash="h", respond=respond)

        assert runs == [1]
        assert first == (*a_response("run 1"), False)
        assert again == (*a_response("run 1"), True)
        assert IdempotencyRecord.objects.filter(call=call, key="k1").count() == 1


def test_it_replays_a_refusal_too(salon):
    with tenant_context(salon):
        call, _token = a_call(salon)
        refusal = (409, {"ok": False, "error": {"code": "slot_taken", "message": "Taken."}})
        tool_response_idempotent(call=call, key="k", action="create_booking", request_hash="h", respond=lambda: refusal)
        replay = tool_response_idempotent(call=call, key="k", action="create_booking", request_hash="h",
                                          respond=lambda: a_response("should not run"))
        assert replay == (*refusal, True)


def test_the_same_key_for_a_different_request_is_refused(salon):
    with tenant_context(salon):
        call, _token = a_call(salon)
        tool_response_idempotent(call=call, key="k", action="create_booking", request_hash="h1", respond=lambda: a_response("a"))
        for action, request_hash in (("create_booking", "h2"), ("create_order", "h1")):
            with pytest.raises(DomainError) as refused:
                tool_response_idempotent(call=call, key="k", action=action, request_hash=request_hash,
                                         respond=lambda: a_response("b"))
            assert refused.value.code == "idempotency_key_reused"


def test_keys_are_per_call(salon):
    with tenant_context(salon):
        call_one, _ = a_call(salon)
        call_two, _ = a_call(salon)
        tool_response_idempotent(call=call_one, key="k", action="create_booking", request_hash="h", respond=lambda: a_response("one"))
        status, body, replayed = tool_response_idempotent(call=call_two, key="k", action="create_booking", request_hash="h",
                                                          respond=lambda: a_response("two"))
        assert (body["result"], replayed) == ({"label": "two"}, False)


def test_an_unexpected_error_leaves_no_record_so_a_retry_runs_again(salon):
    with tenant_context(salon):
        call, _ = a_call(salon)

        def explode():
            raise RuntimeError("bug")

        with pytest.raises(RuntimeError):
            tool_response_idempotent(call=call, key="k", action="create_booking", request_hash="h", respond=explode)
        assert tool_response_idempotent(call=call, key="k", action="create_booking", request_hash="h",
                                        respond=lambda: a_response("retry"))[2] is False


def wait_for_a_blocked_insert(timeout: float = 10.0) -> None:
    """Until another backend waits on a row lock while inserting an idempotency record (polling
    pg_stat_activity; the test asserts the order of events, not how long they take)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE %s", ["%INSERT INTO%calls_idempotencyrecord%"])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second request never waited for the first")


def test_two_requests_with_one_key_arriving_together_do_the_work_once(committed_db):
    salon = tenant_named("salon")
    call, _token = a_call(salon)
    first_is_working, let_first_finish = threading.Event(), threading.Event()
    runs: list[str] = []
    results: dict[str, tuple] = {}

    def slow_first_response():
        runs.append("first")
        first_is_working.set()
        assert let_first_finish.wait(10)
        return a_response("first")

    def second_response():
        runs.append("second")
        return a_response("second")

    def request(name, respond):
        try:
            with tenant_context(salon):
                results[name] = tool_response_idempotent(call=call, key="retry-1", action="create_booking",
                                                         request_hash="h", respond=respond)
        finally:
            connection.close()

    first = threading.Thread(target=request, args=("first", slow_first_response))
    second = threading.Thread(target=request, args=("second", second_response))
    first.start()
    assert first_is_working.wait(10)
    second.start()
    wait_for_a_blocked_insert()
    let_first_finish.set()
    first.join(10)
    second.join(10)

    assert runs == ["first"]
    assert results["first"] == (*a_response("first"), False)
    assert results["second"] == (*a_response("first"), True)
    with tenant_context(salon):
        assert IdempotencyRecord.objects.filter(call=call).count() == 1
