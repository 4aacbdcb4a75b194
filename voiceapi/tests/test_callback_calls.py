"""Callbacks the agent returns, through the doors the voice worker uses: the grant it finds in the agent
dispatch (made by the periodic task, LiveKit replaced by a recorder) goes to `POST /internal/calls/start`,
which creates the outbound call and answers with what to dial and what to say; the attempt's result
goes to `POST /internal/calls/<id>/callback-attempt` with the call's token."""
import datetime as dt
import json

import pytest
import requests
from django_tenants.utils import schema_context

from calls import callback_dialing
from calls.models import Call, CallbackAttempt, CallbackRequest
from calls.services import callback_request_create
from calls.tasks import callbacks_place_due
from tenants.agent.models import AgentSettings
from testing.demo_tenants import NEW_YORK, SALON_NUMBER
from voiceapi.tests.voice_api import assert_error, start_call, started_call

CUSTOMER = "+12125550142"
TUESDAY_10AM = dt.datetime(2026, 3, 10, 10, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def outbound_calling(settings):
    """LiveKit and the outbound trunk's carrier, as a deployment with outbound calling sets them."""
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "ws://127.0.0.1:7880", "key", "secret"
    settings.SIP_OUTBOUND_ADDRESS = "127.0.0.1:5070"


@pytest.fixture
def salon_returns_callbacks(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: TUESDAY_10AM)
    with schema_context("salon"):
        saved = AgentSettings.objects.values("agent_returns_callbacks", "language", "callback_max_attempts").get()
        AgentSettings.objects.update(agent_returns_callbacks=True)
    yield
    with schema_context("salon"):
        AgentSettings.objects.update(**saved)


def dispatched_grant(monkeypatch, *, reason: str = "a colour consultation") -> tuple[str, CallbackRequest]:
    """The grant the worker finds in the agent dispatch of a callback due now."""
    sent = []
    monkeypatch.setattr(callback_dialing, "livekit_dispatch", lambda *, room, metadata: sent.append(metadata))
    with schema_context("salon"):
        callback_request = callback_request_create(call=None, caller_number=CUSTOMER, reason=reason)
    assert callbacks_place_due() == {"salon": 1}
    return json.loads(sent[-1])["callback_grant"], callback_request


def report(api_server, started: dict, result: str, *, token: str | None = None, call_id: str | None = None):
    return requests.post(f"{api_server.url}/internal/calls/{call_id or started['call_id']}/callback-attempt",
                         json={"result": result, "detail": "SIP 486"},
                         headers={"Authorization": f"Bearer {token or started['call_token']}"}, timeout=10)


def test_it_starts_the_outbound_call_with_what_to_dial_and_what_to_say(api_server, salon_returns_callbacks,
                                                                       monkeypatch):
    grant, callback_request = dispatched_grant(monkeypatch)

    started = started_call(api_server, called_number="", caller_number="", room="callback-x", callback_grant=grant)

    config = started["config"]
    assert config["callback"] == {
        "callback_id": callback_request.pk, "dial_number": CUSTOMER, "from_number": SALON_NUMBER,
        "voicemail_message": "Hello, this is Bella Hair Studio. You asked us to call you back about a colour "
                             "consultation. Sorry we missed you; we will try again later. Goodbye.",
    }
    assert config["greeting"] == ("Hello, this is Bella Hair Studio. You asked us to call you back about a colour "
                                  "consultation. Is now a good time?")
    assert f"you are calling the customer back on {CUSTOMER}" in config["instructions"]
    with schema_context("salon"):
        call = Call.objects.get(pk=started["call_id"])
        attempt = CallbackAttempt.objects.get(callback_request=callback_request)
    assert (call.caller_number, call.called_number, call.status) == (CUSTOMER, SALON_NUMBER, "active")
    assert attempt.call_id == call.pk


def test_it_says_why_it_calls_in_the_businesss_language(api_server, salon_returns_callbacks, monkeypatch):
    with schema_context("salon"):
        AgentSettings.objects.update(language="es")
    grant, _ = dispatched_grant(monkeypatch, reason="una cita de color")

    config = started_call(api_server, called_number="", caller_number="", callback_grant=grant)["config"]

    assert config["greeting"] == ("Hola, le llamamos de Bella Hair Studio. Nos pidió que le devolviéramos la llamada "
                                  "por una cita de color. ¿Es un buen momento?")
    assert config["callback"]["voicemail_message"].startswith("Hola, le llamamos de Bella Hair Studio.")


def test_it_refuses_a_forged_grant_and_starts_an_attempt_only_once(api_server, salon_returns_callbacks, monkeypatch):
    grant, _ = dispatched_grant(monkeypatch)

    assert_error(start_call(api_server, called_number="", callback_grant=grant[:-2] + "xx"), 401, "invalid_token")
    started_call(api_server, called_number="", caller_number="", callback_grant=grant)
    assert_error(start_call(api_server, called_number="", callback_grant=grant), 409, "callback_attempt_taken")


def test_an_answered_callback_is_done_and_handled_by_the_agent(api_server, salon_returns_callbacks, monkeypatch):
    grant, callback_request = dispatched_grant(monkeypatch)
    started = started_call(api_server, called_number="", caller_number="", callback_grant=grant)

    response = report(api_server, started, "answered")

    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"result": "answered", "callback_status": "done", "next_attempt_at": None}
    with schema_context("salon"):
        callback_request.refresh_from_db()
    assert (callback_request.status, callback_request.handled_by) == ("done", "the agent (called back)")
    # Reported again (a retried request): nothing changes; another result is refused.
    assert report(api_server, started, "answered").status_code == 200
    assert_error(report(api_server, started, "voicemail"), 409, "attempt_already_recorded")


def test_a_busy_line_ends_the_call_and_schedules_the_next_try(api_server, salon_returns_callbacks, monkeypatch):
    grant, callback_request = dispatched_grant(monkeypatch)
    started = started_call(api_server, called_number="", caller_number="", callback_grant=grant)

    response = report(api_server, started, "busy")

    next_try = TUESDAY_10AM + dt.timedelta(minutes=120)
    assert response.json()["result"]["next_attempt_at"] == next_try.isoformat()
    with schema_context("salon"):
        callback_request.refresh_from_db()
        call = Call.objects.get(pk=started["call_id"])
    assert (callback_request.status, callback_request.call_after) == ("open", next_try)
    assert (call.status, call.end_reason) == ("ended", "Callback: busy.")


def test_only_the_calls_own_token_reports_and_only_for_a_callback(api_server, salon_returns_callbacks, monkeypatch):
    grant, _ = dispatched_grant(monkeypatch)
    started = started_call(api_server, called_number="", caller_number="", callback_grant=grant)
    inbound = started_call(api_server)

    assert_error(report(api_server, started, "answered", token=inbound["call_token"]), 403, "wrong_call")
    assert_error(report(api_server, inbound, "answered"), 404, "not_a_callback")
    assert_error(report(api_server, started, "maybe"), 400, "invalid_request")
    assert report(api_server, started, "answered", token="forged").status_code == 401


def test_the_customer_asks_not_to_be_called_again_and_never_is(api_server, salon_returns_callbacks, monkeypatch):
    from voiceapi.tests.voice_api import tool

    grant, callback_request = dispatched_grant(monkeypatch)
    started = started_call(api_server, called_number="", caller_number="", callback_grant=grant)
    inbound = started_call(api_server)
    assert "do_not_call" in started["config"]["tools"] and "do_not_call" not in inbound["config"]["tools"]

    response = tool(api_server, started["call_token"], "do_not_call", {})

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Noted: we will not call this number again."
    assert_error(tool(api_server, inbound["call_token"], "do_not_call", {}), 404, "not_a_callback")
    # A new callback for the number is never dialled.
    with schema_context("salon"):
        callback_request_create(call=None, caller_number=CUSTOMER, reason="Called in again")
    sent = []
    monkeypatch.setattr(callback_dialing, "livekit_dispatch", lambda **kwargs: sent.append(kwargs))
    assert callbacks_place_due() == {} and sent == []
