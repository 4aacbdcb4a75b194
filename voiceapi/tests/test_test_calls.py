"""Test calls through the doors they use: the admin's token endpoint signs a grant into the LiveKit
token's agent dispatch, the worker hands it to call start, and the API takes the business, the draft
settings and the test mark from that grant alone. A test call's booking is marked (its call is a test
call), texts and notifies nobody, and is gone once the end-of-call log arrives."""
import datetime as dt
import json

import pytest
import requests
from django_tenants.utils import schema_context
from livekit import api as livekit_api

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from bookings.models import Booking
from calls.models import Call, CallbackRequest
from messaging.models import SmsMessage
from notifications.models import Notification
from notifications.tests.helpers import recipients_set
from voiceapi.tests.voice_api import CALLER, assert_error, start_call, started_call, tool

# Monday 9 March 2026, 10:00 in New York; Tuesday 14:00 is free at the salon.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
LIVEKIT_KEY, LIVEKIT_SECRET = "devkey", "a-local-livekit-secret-of-32-chars!"


@pytest.fixture
def livekit_settings(settings):
    settings.LIVEKIT_BROWSER_URL = "ws://127.0.0.1:7880"
    settings.LIVEKIT_API_KEY = LIVEKIT_KEY
    settings.LIVEKIT_API_SECRET = LIVEKIT_SECRET
    settings.VOICE_AGENT_NAME = "soniq"


@pytest.fixture
def monday(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def grant_from_admin(client, **post) -> tuple[str, livekit_api.access_token.Claims]:
    """What the worker receives: the dispatch metadata of the token the admin issued the browser."""
    response = client.post("/admin/try/token", post)
    assert response.status_code == 200, response.content
    claims = livekit_api.TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(response.json()["token"])
    (dispatch,) = claims.room_config.agents
    return json.loads(dispatch.metadata)["test_grant"], claims


def test_it_starts_a_test_call_for_the_business_named_by_the_grant(api_server, committed_db, livekit_settings):
    grant, claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    assert claims.room_config.agents[0].agent_name == "soniq"
    assert claims.video.room.startswith("test-salon-") and claims.video.room_join

    # The worker sends no number at all for a browser room: the grant alone names the salon.
    started = started_call(api_server, called_number="", caller_number="", room=claims.video.room, test_grant=grant)

    assert started["config"]["test"] is True
    assert started["config"]["business_name"] == "Bella Hair Studio"
    assert started["config"]["transfer"]["available_now"] is False
    with schema_context("salon"):
        call = Call.objects.get(pk=started["call_id"])
        assert call.is_test and call.room == claims.video.room


def test_a_changed_or_foreign_grant_is_refused(api_server, committed_db, livekit_settings):
    grant, _claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    # A browser rewriting the schema in the grant (base64 JSON before the signature) breaks it.
    forged = grant.replace(grant.split(":")[0], grant.split(":")[0][:-2] + "xx")

    assert_error(start_call(api_server, called_number="", test_grant=forged), 401, "invalid_token")
    assert_error(start_call(api_server, called_number="", test_grant="pizzeria"), 401, "invalid_token")
    # Without a grant, a blank number is just a bad request, as before.
    assert_error(start_call(api_server, called_number=""), 400, "invalid_request")


def test_an_expired_grant_is_refused(api_server, committed_db, livekit_settings, monkeypatch):
    grant, _claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    monkeypatch.setattr("core.clock.now", lambda: later)

    error = assert_error(start_call(api_server, called_number="", test_grant=grant), 401, "invalid_token")
    assert "expired" in error["message"]


def test_a_test_call_runs_with_the_unsaved_settings_and_saves_nothing(api_server, committed_db, livekit_settings):
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    form = owner.get("/admin/agent/agentsettings/1/change/")
    assert form.status_code == 200
    data = {name: field.value() if field.value() is not None else "" for name, field in form.context["adminform"].form.fields.items()
            for field in [form.context["adminform"].form[name]]}
    data.update(greeting="Hello from the draft!", instructions="Always mention the spring offer.", voice_id_typed="")
    data = {key: value for key, value in data.items() if not isinstance(value, bool) or value}

    page = owner.post("/admin/try/", data)
    assert page.status_code == 200
    assert b"unsaved" in page.content
    draft_key = page.context["draft_key"]
    assert draft_key

    grant, _claims = grant_from_admin(owner, draft_key=draft_key)
    config = started_call(api_server, called_number="", test_grant=grant)["config"]

    assert config["greeting"] == "Hello from the draft!"
    assert config["instructions"].startswith("Always mention the spring offer.")
    with schema_context("salon"):
        from tenants.agent.models import AgentSettings

        assert AgentSettings.objects.get().greeting != "Hello from the draft!"


def test_a_test_calls_booking_is_marked_texts_nobody_and_is_gone_after_the_log(api_server, committed_db, livekit_settings,
                                                                                 monday):
    recipients_set("salon", emails=["owner@salon.example"], sms=["+15550100900"])
    grant, _claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    test_call = started_call(api_server, called_number="", test_grant=grant)
    booking = {"service": "Haircut", "customer_name": "Ann Smith", "customer_phone": CALLER, "confirmed": True}
    callback = {"reason": "Wants a person", "callback_number": CALLER}

    made = tool(api_server, test_call["call_token"], "create_booking", {**booking, "start": "2026-03-10T14:00"})
    queued = tool(api_server, test_call["call_token"], "transfer_to_human", callback)

    assert made.status_code == 200, made.text
    assert queued.status_code == 200 and queued.json()["result"]["action"] == "callback", queued.text
    with schema_context("salon"):
        test_booking = Booking.objects.get(pk=made.json()["result"]["booking_id"])
        assert test_booking.call.is_test  # marked: made by a test call
        assert CallbackRequest.objects.get(call_id=test_call["call_id"]).call.is_test
        # No text to the customer, no email or text to the staff.
        assert not SmsMessage.objects.exists()
        assert not Notification.objects.exists()

    # The same from a real call does text and notify: the silence above is the test mark's doing.
    real_call = started_call(api_server)
    assert tool(api_server, real_call["call_token"], "create_booking", {**booking, "start": "2026-03-10T16:00"}).ok
    assert tool(api_server, real_call["call_token"], "transfer_to_human", callback).ok
    with schema_context("salon"):
        assert SmsMessage.objects.filter(call_id=real_call["call_id"]).exists()
        assert Notification.objects.exists()

    log = requests.post(f"{api_server.url}/internal/calls/{test_call['call_id']}/log",
                        json={"outcome": "booked", "end_reason": "Done"},
                        headers={"Authorization": f"Bearer {test_call['call_token']}"}, timeout=10)

    assert log.status_code in (200, 202), log.text
    with schema_context("salon"):
        assert not Booking.objects.filter(call_id=test_call["call_id"]).exists()
        assert not CallbackRequest.objects.filter(call_id=test_call["call_id"]).exists()
        assert Booking.objects.filter(call_id=real_call["call_id"]).exists()  # a real call's booking stays
        call = Call.objects.get(pk=test_call["call_id"])
        assert call.is_test and call.status == Call.Status.ENDED  # the call itself stays, marked test


def test_a_test_call_cannot_move_or_cancel_a_real_booking(api_server, committed_db, livekit_settings, monday):
    real_call = started_call(api_server)
    booking = tool(api_server, real_call["call_token"], "create_booking",
                   {"service": "Haircut", "start": "2026-03-12T14:00", "customer_name": "Ann Smith",
                    "customer_phone": CALLER, "confirmed": True}).json()["result"]["booking_id"]
    grant, _claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    test_call = started_call(api_server, called_number="", test_grant=grant)

    cancel = tool(api_server, test_call["call_token"], "cancel_booking",
                  {"booking_id": booking, "customer_phone": CALLER, "customer_name": "Ann Smith"})
    move = tool(api_server, test_call["call_token"], "reschedule_booking",
                {"booking_id": booking, "start": "2026-03-12T16:00", "customer_phone": CALLER, "customer_name": "Ann Smith"})

    assert_error(cancel, 403, "test_call_read_only")
    assert_error(move, 403, "test_call_read_only")
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking).status == Booking.Status.CONFIRMED
