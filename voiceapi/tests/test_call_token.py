"""Call tokens: only a genuine, unexpired token reaches its own tenant's schema and its own call."""
import datetime as dt
import uuid

import pytest
import requests
from django.core import signing
from django_tenants.utils import tenant_context

from calls.models import Call, CallNote
from core import clock
from voiceapi.tests.voice_api import INTERNAL_TOKEN, a_call, assert_error, tenant_named, tool
from voiceapi.tokens import SALT, InvalidCallToken, call_token_issue, call_token_read

NOTE = {"note": "hello"}


def log(api_server, token: str, call_id: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{api_server.url}/internal/calls/{call_id}/log", json=body or {},
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_it_accepts_its_own_token(committed_db, api_server):
    _call, token = a_call(tenant_named("salon"))
    assert tool(api_server, token, "log_note", NOTE).status_code == 200


def test_it_refuses_a_tampered_token(committed_db, api_server):
    _call, token = a_call(tenant_named("salon"))
    position = len(token) // 3
    tampered = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:]
    assert_error(tool(api_server, tampered, "log_note", NOTE), 401, "invalid_token")
    assert_error(tool(api_server, token + "x", "log_note", NOTE), 401, "invalid_token")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Token abc", "Bearer a b", "Bearer " + "x" * 5000])
def test_it_refuses_missing_and_malformed_headers(committed_db, api_server, header):
    response = requests.post(f"{api_server.url}/internal/voice-tools/log_note", json=NOTE,
                             headers={"Authorization": header} if header else {}, timeout=5)
    assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_token_past_the_calls_length_plus_grace(committed_db, api_server, settings):
    salon = tenant_named("salon")
    # max_call_seconds 600 + grace 900: a token issued 1,501 s ago has expired, one issued 1,490 s ago has not.
    _call, old_token = a_call(salon, now=clock.now() - dt.timedelta(seconds=1501))
    _call, recent_token = a_call(salon, now=clock.now() - dt.timedelta(seconds=1490))

    error = assert_error(tool(api_server, old_token, "log_note", NOTE), 401, "invalid_token")
    assert "expired" in error["message"]
    assert tool(api_server, recent_token, "log_note", NOTE).status_code == 200


def test_the_expiry_follows_the_injectable_clock(committed_db, api_server, monkeypatch):
    _call, token = a_call(tenant_named("salon"))
    monkeypatch.setattr("core.clock.now", lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert_error(tool(api_server, token, "log_note", NOTE), 401, "invalid_token")


def test_it_refuses_tokens_signed_another_way(committed_db, api_server, settings):
    call, _token = a_call(tenant_named("salon"))
    payload = {"s": "salon", "c": str(call.pk), "e": int(clock.now().timestamp()) + 600}
    other_salt = signing.Signer(salt="something-else").sign_object(payload)
    other_key = signing.Signer(key="another-secret-key", salt=SALT).sign_object(payload)
    unsigned = signing.b64_encode(b'{"s":"salon"}').decode()

    for token in (other_salt, other_key, unsigned, INTERNAL_TOKEN):
        assert_error(tool(api_server, token, "log_note", NOTE), 401, "invalid_token")


def test_it_refuses_a_token_for_a_tenant_or_call_that_does_not_exist(committed_db, api_server):
    call, _token = a_call(tenant_named("salon"))
    no_tenant = call_token_issue(schema_name="nobody", call_id=str(call.pk), max_call_seconds=600)
    no_call = call_token_issue(schema_name="salon", call_id=str(uuid.uuid4()), max_call_seconds=600)
    not_a_uuid = call_token_issue(schema_name="salon", call_id="1 OR 1=1", max_call_seconds=600)

    for token in (no_tenant, no_call, not_a_uuid):
        assert_error(tool(api_server, token, "log_note", NOTE), 401, "invalid_token")


def test_a_salon_token_cannot_reach_a_pizzeria_call(committed_db, api_server):
    salon, pizzeria = tenant_named("salon"), tenant_named("pizzeria")
    _salon_call, salon_token = a_call(salon)
    pizzeria_call, _pizzeria_token = a_call(pizzeria)

    error = assert_error(log(api_server, salon_token, str(pizzeria_call.pk), {"outcome": "other"}), 403, "wrong_call")
    assert "different call" in error["message"]
    with tenant_context(pizzeria):
        pizzeria_call.refresh_from_db()
        assert pizzeria_call.status == Call.Status.ACTIVE and pizzeria_call.outcome == ""


def test_even_a_validly_signed_token_only_opens_the_schema_it_names(committed_db, api_server):
    salon, pizzeria = tenant_named("salon"), tenant_named("pizzeria")
    salon_call, salon_token = a_call(salon)
    # Signed with the real key, but naming the pizzeria and a salon call: the call is not there.
    crossed = call_token_issue(schema_name="pizzeria", call_id=str(salon_call.pk), max_call_seconds=600)
    assert_error(tool(api_server, crossed, "log_note", NOTE), 401, "invalid_token")

    assert tool(api_server, salon_token, "log_note", {"note": "salon only"}).status_code == 200
    with tenant_context(salon):
        assert CallNote.objects.filter(text="salon only").count() == 1
    with tenant_context(pizzeria):
        assert CallNote.objects.count() == 0


def test_the_log_endpoint_takes_the_calls_own_token(committed_db, api_server):
    salon = tenant_named("salon")
    call, token = a_call(salon)
    response = log(api_server, token, str(call.pk), {
        "ended_at": (call.started_at + dt.timedelta(seconds=95)).isoformat(), "duration_seconds": 95.5,
        "outcome": "answered", "end_reason": "Caller said goodbye", "transcript": [],
    })
    assert response.status_code == 202, response.text
    assert response.json() == {"ok": True, "call_id": str(call.pk), "status": "accepted"}
    with tenant_context(salon):
        call.refresh_from_db()
    assert call.status == Call.Status.ENDED
    assert str(call.duration_seconds) == "95.50"
    assert (call.outcome, call.end_reason) == ("answered", "Caller said goodbye")


def test_a_log_spooled_through_an_outage_is_still_accepted_after_the_token_expired(committed_db, api_server):
    salon = tenant_named("salon")
    # Issued two hours ago: the token no longer opens any tool, but its own call's log still lands.
    call, token = a_call(salon, now=clock.now() - dt.timedelta(hours=2))

    assert_error(tool(api_server, token, "log_note", NOTE), 401, "invalid_token")
    response = log(api_server, token, str(call.pk), {
        "ended_at": (call.started_at + dt.timedelta(seconds=60)).isoformat(), "duration_seconds": 60,
        "outcome": "answered", "end_reason": "Caller said goodbye", "transcript": [],
    })
    assert response.status_code == 202, response.text


def test_a_log_is_refused_once_even_the_log_grace_is_over(committed_db, api_server, settings):
    settings.CALL_LOG_TOKEN_GRACE_SECONDS = 3600
    call, token = a_call(tenant_named("salon"), now=clock.now() - dt.timedelta(hours=2))
    assert_error(log(api_server, token, str(call.pk), {"duration_seconds": 60}), 401, "invalid_token")


def test_the_log_endpoint_refuses_a_missing_token(committed_db, api_server):
    call, _token = a_call(tenant_named("salon"))
    assert_error(requests.post(f"{api_server.url}/internal/calls/{call.pk}/log", json={}, timeout=5), 401, "invalid_token")


# --- the token module itself -------------------------------------------------------------------

def test_a_token_names_the_tenant_and_the_call(settings, monkeypatch):
    issued = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
    monkeypatch.setattr("core.clock.now", lambda: issued)
    token = call_token_issue(schema_name="salon", call_id="abc", max_call_seconds=600, issued_at=issued)
    claims = call_token_read(token)
    assert (claims.schema_name, claims.call_id) == ("salon", "abc")
    assert claims.expires_at == issued + dt.timedelta(seconds=600 + settings.CALL_TOKEN_GRACE_SECONDS)


def test_a_token_is_refused_from_the_second_it_expires(monkeypatch):
    issued = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
    token = call_token_issue(schema_name="salon", call_id="abc", max_call_seconds=600, issued_at=issued)
    monkeypatch.setattr("core.clock.now", lambda: issued + dt.timedelta(seconds=1499))
    call_token_read(token)
    monkeypatch.setattr("core.clock.now", lambda: issued + dt.timedelta(seconds=1500))
    with pytest.raises(InvalidCallToken):
        call_token_read(token)
