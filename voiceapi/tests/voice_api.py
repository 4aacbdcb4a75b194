"""Small helpers for the internal voice API's HTTP tests: start a call, call a tool."""
from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from testing.demo_tenants import SALON_NUMBER

INTERNAL_TOKEN = "test-internal-token"
CALLER = "+15557654321"


def start_call(api_server, *, called_number: str = SALON_NUMBER, caller_number: str = CALLER,
               token: str = INTERNAL_TOKEN, **extra: Any) -> requests.Response:
    body = {"called_number": called_number, "caller_number": caller_number, "room": "room-1",
            "sip_call_id": "sip-1", **extra}
    return requests.post(f"{api_server.url}/internal/calls/start", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def started_call(api_server, **kwargs: Any) -> dict[str, Any]:
    """call_id, call_token and config of a new call (asserting it started)."""
    response = start_call(api_server, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def tool(api_server, call_token: str, action: str, body: Any, *, idempotency_key: str | None = None,
         session: requests.Session | None = None, wait_for_follow_ups: bool = True) -> requests.Response:
    """The tool's answer, returned once the server has also run what the request set off after it
    (the text, the owner's email, the webhook: core/after_response.py), so a test reads them
    as they will be. The answer comes first (voiceapi/tests/test_answer_before_followups.py)."""
    from core import after_response

    headers = {"Authorization": f"Bearer {call_token}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = (session or requests).post(f"{api_server.url}/internal/voice-tools/{action}", json=body,
                                          headers=headers, timeout=30)
    if wait_for_follow_ups:
        assert after_response.idle(timeout=30), "the server's follow-ups did not finish in 30 s"
    return response


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def at(text: str) -> dt.datetime:
    """An aware datetime from ISO 8601 with offset."""
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


def a_call(tenant, *, caller_number: str = CALLER, now: dt.datetime | None = None) -> tuple[Any, str]:
    """A call started through the service, with its token: for tests of the tools that do not need
    the config. Commit it (committed_db) before a live server can see it."""
    from django_tenants.utils import tenant_context

    from calls.services import call_start
    from core import clock
    from voiceapi.tokens import call_token_issue

    now = now or clock.now()
    with tenant_context(tenant):
        call = call_start(called_number=tenant.phone_numbers.first().number, caller_number=caller_number, now=now)
    token = call_token_issue(schema_name=tenant.schema_name, call_id=str(call.pk), max_call_seconds=call.max_call_seconds,
                             issued_at=now)
    return call, token


def tenant_named(schema_name: str):
    """The demo tenant, for committed tests (the `salon`/`pizzeria` fixtures open a transaction)."""
    from tenants.models import Tenant

    return Tenant.objects.get(schema_name=schema_name)
