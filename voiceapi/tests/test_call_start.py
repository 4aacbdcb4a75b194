"""POST /internal/calls/start: the call row, its token and the config the worker runs the call with."""
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import requests
from django_tenants.utils import tenant_context

from calls.models import Call
from calls.services import call_start
from tenants.agent.models import AgentSettings
from testing.demo_tenants import PIZZERIA_NUMBER
from voiceapi.call_config import call_config_build
from voiceapi.tests.voice_api import CALLER, assert_error, start_call, started_call, tenant_named, tool

# Tuesday 10 March 2026, two days after New York moved to daylight time: 11:00 EDT, inside the
# salon's escalation hours (Tue-Fri 10-17).
TUESDAY_AFTER_DST = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
# Saturday 7 March 2026, the day before the change: 10:00 EST; nobody takes transfers on Saturdays.
SATURDAY_BEFORE_DST = dt.datetime(2026, 3, 7, 15, 0, tzinfo=dt.UTC)
# Friday 13 March 2026, 19:00 in Berlin (CET): the pizzeria's kitchen takes transfers Fri 17-22.
FRIDAY_EVENING_BERLIN = dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def fixed_clock(monkeypatch):
    def pin(moment: dt.datetime) -> None:
        monkeypatch.setattr("core.clock.now", lambda: moment)
    return pin


def test_it_creates_the_call_and_returns_a_token_and_the_salon_config(committed_db, api_server, fixed_clock):
    salon = tenant_named("salon")
    fixed_clock(TUESDAY_AFTER_DST)
    response = start_call(api_server, caller_number="(555) 765-4321", room="call-abc", sip_call_id="SCL_1")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["call_token"]
    with tenant_context(salon):
        call = Call.objects.get(pk=uuid.UUID(body["call_id"]))
    assert call.status == Call.Status.ACTIVE
    assert call.started_at == TUESDAY_AFTER_DST
    assert (call.called_number, call.caller_number) == ("+15550100001", "+15557654321")
    assert (call.room, call.sip_call_id, call.max_call_seconds) == ("call-abc", "SCL_1", 600)

    config = body["config"]
    assert config["business_name"] == "Bella Hair Studio"
    assert config["tenant"] == "salon"
    assert config["timezone"] == "America/New_York"
    assert config["local_time"] == "2026-03-10T11:00:00-04:00"
    assert config["language"] == "en"
    assert config["greeting"].startswith("Thanks for calling Bella Hair Studio")
    assert config["voice"] == {"provider": "cartesia", "model": "sonic-3",
                               "voice_id": "f786b574-daa5-4673-aa0c-cbe3e8534c02", "speed": 1.0}
    # Deepgram is told the business's own words, so "Bella" and "Blow Dry" are transcribed right.
    assert config["stt"] == {"provider": "deepgram", "model": "nova-3", "language": "multi",
                             "keyterms": ["Bella Hair Studio", "Blow Dry", "Colour", "Haircut"]}
    assert config["llm"] == {"provider": "openai", "model": "gpt-4.1-mini"}
    assert config["max_call_seconds"] == 600
    assert config["warnings"] == {"first_seconds": 120, "final_seconds": 30}
    assert config["transfer"] == {"available_now": True, "target": "tel:+15550100900", "ringing_timeout_seconds": 18,
                                  "fallback": "callback",
                                  "mode": "cold"}
    assert config["callback_promise"] == "within two hours during opening hours"
    assert config["caller_number"] == "+15557654321"
    assert config["tools"] == ["check_availability", "create_booking", "find_bookings", "reschedule_booking", "cancel_booking",
                              "transfer_to_human", "end_call", "log_note"]


def test_it_writes_todays_date_hours_services_and_rules_into_the_instructions(committed_db, api_server, fixed_clock):
    fixed_clock(TUESDAY_AFTER_DST)
    instructions = started_call(api_server)["config"]["instructions"]

    assert instructions.startswith("You are Ava, the friendly receptionist of Bella Hair Studio.")
    assert "Tuesday 10 March 2026, 11:00 local time (America/New_York, EDT, UTC-04:00)" in instructions
    assert "Tuesday: 09:00–12:30, 13:30–18:00" in instructions
    assert "Monday: closed" in instructions
    assert "Colour" in instructions and "Haircut" in instructions
    assert f"calling from {CALLER}" in instructions
    assert "Never guess availability: call check_availability" in instructions
    assert "Someone can take the call right now." in instructions
    # SignalWire is not configured in tests: no texts go out, so the agent must not promise one.
    assert "text message" not in instructions


def test_the_lines_of_one_call_come_after_everything_calls_share(committed_db, api_server, fixed_clock):
    # Two calls an hour apart from different callers: the prompt up to this call's own lines is the
    # same text, so a provider that caches prompt prefixes reuses it across calls.
    fixed_clock(TUESDAY_AFTER_DST)
    first = started_call(api_server)["config"]["instructions"]
    fixed_clock(TUESDAY_AFTER_DST + dt.timedelta(hours=1, minutes=7))
    second = started_call(api_server, caller_number="+15559876543")["config"]["instructions"]

    shared, first_call = first.split("## This call")
    assert second.startswith(shared)
    assert "11:00 local time" in first_call and f"calling from {CALLER}" in first_call
    assert "11:00" not in shared and CALLER not in shared
    assert "12:07 local time" in second.split("## This call")[1]


def test_the_agent_may_promise_a_text_only_when_one_will_be_sent(committed_db, api_server, fixed_clock, settings):
    fixed_clock(dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC))
    for name in ("SIGNALWIRE_SPACE_URL", "SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN"):
        setattr(settings, name, "configured")

    salon = started_call(api_server)["config"]["instructions"]
    pizzeria = started_call(api_server, called_number=PIZZERIA_NUMBER)["config"]["instructions"]

    assert ("The caller gets a text message confirming each booking or order and a reminder the day before a "
            "booking; you may say so.") in salon
    assert "text message" not in pizzeria  # the demo pizzeria has SMS to customers off


def test_it_gives_standard_time_before_the_dst_change_and_no_transfer_on_saturday(committed_db, api_server, fixed_clock):
    fixed_clock(SATURDAY_BEFORE_DST)
    config = started_call(api_server)["config"]

    assert config["local_time"] == "2026-03-07T10:00:00-05:00"
    assert "Saturday 7 March 2026, 10:00 local time (America/New_York, EST, UTC-05:00)" in config["instructions"]
    assert config["transfer"] == {"available_now": False, "target": "tel:+15550100900", "ringing_timeout_seconds": 18,
                                  "fallback": "callback",
                                  "mode": "cold"}
    assert "queues a callback (within two hours during opening hours)" in config["instructions"]


def test_it_lists_upcoming_closures(committed_db, api_server, fixed_clock):
    fixed_clock(dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC))
    instructions = started_call(api_server)["config"]["instructions"]
    assert "Friday 25 December 2026 (Christmas Day)" in instructions


def test_it_returns_the_pizzerias_own_config(committed_db, api_server, fixed_clock):
    pizzeria = tenant_named("pizzeria")
    fixed_clock(FRIDAY_EVENING_BERLIN)
    body = started_call(api_server, called_number=PIZZERIA_NUMBER)
    config = body["config"]

    assert config["business_name"] == "Luigi's Pizzeria"
    assert config["local_time"] == "2026-03-13T19:00:00+01:00"
    assert config["max_call_seconds"] == 420
    assert config["voice"]["voice_id"] == "a0e99841-438c-4a64-b679-ae501e7d6091"
    assert config["transfer"] == {"available_now": True, "target": "sip:kitchen@pizzeria.example",
                                  "ringing_timeout_seconds": 18, "fallback": "callback",
                                  "mode": "cold"}
    assert config["tools"] == ["create_order", "order_status", "transfer_to_human", "end_call", "log_note"]
    # The menu's names (not the Truffle Pizza: it is off the menu today).
    assert config["stt"]["keyterms"] == ["Luigi's Pizzeria", "Margherita", "Pepperoni", "Quattro Formaggi", "Diavola",
                                         "Tiramisu", "Garlic Bread", "Coca-Cola"]
    assert "Margherita" in config["instructions"]
    assert "Friday 13 March 2026, 19:00 local time (Europe/Berlin, CET, UTC+01:00)" in config["instructions"]
    with tenant_context(pizzeria):
        assert Call.objects.filter(pk=body["call_id"], max_call_seconds=420).exists()


@pytest.mark.parametrize("called_number", ["+15550100001", "+1 (555) 010-0001", "15550100001", "5550100001",
                                           "tel:+15550100001", " +1-555-010-0001 "])
def test_it_finds_the_tenant_whatever_format_the_trunk_sends(committed_db, api_server, called_number):
    assert started_call(api_server, called_number=called_number)["config"]["tenant"] == "salon"


@pytest.mark.parametrize("called_number", ["+15550109999", "hello", "+4930123456"])
def test_it_answers_404_for_a_number_no_business_uses(committed_db, api_server, called_number):
    assert_error(start_call(api_server, called_number=called_number), 404, "unknown_number")


def test_it_stores_a_withheld_caller_number_as_withheld(committed_db, api_server):
    salon = tenant_named("salon")
    body = started_call(api_server, caller_number="anonymous")
    assert body["config"]["caller_number"] == ""
    assert "withheld" in body["config"]["instructions"]
    with tenant_context(salon):
        assert Call.objects.get(pk=body["call_id"]).caller_number == ""


def test_it_refuses_a_missing_or_wrong_internal_token(committed_db, api_server):
    salon = tenant_named("salon")
    url = f"{api_server.url}/internal/calls/start"
    body = {"called_number": "+15550100001", "caller_number": CALLER}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdDp0ZXN0"},
                    {"Authorization": "Bearer"}, {"Authorization": "test-internal-token"}):
        response = requests.post(url, json=body, headers=headers, timeout=5)
        assert_error(response, 401, "invalid_token")
    with tenant_context(salon):
        assert Call.objects.count() == 0


def test_it_refuses_everyone_when_no_internal_token_is_configured(committed_db, api_server, settings):
    settings.INTERNAL_API_TOKEN = ""
    assert_error(start_call(api_server, token=""), 401, "invalid_token")
    assert_error(start_call(api_server, token="test-internal-token"), 401, "invalid_token")


def test_a_call_token_cannot_start_calls(committed_db, api_server):
    call_token = started_call(api_server)["call_token"]
    assert_error(start_call(api_server, token=call_token), 401, "invalid_token")


def test_it_says_which_field_is_missing(committed_db, api_server):
    response = requests.post(f"{api_server.url}/internal/calls/start", json={"caller_number": CALLER},
                             headers={"Authorization": "Bearer test-internal-token"}, timeout=5)
    error = assert_error(response, 400, "invalid_request")
    assert error["message"] == "The field called_number is required."


def test_the_token_it_returns_works_for_the_tools(committed_db, api_server):
    body = started_call(api_server)
    response = tool(api_server, body["call_token"], "log_note", {"note": "Prefers afternoons"})
    assert response.status_code == 200, response.text


# --- the service and selector directly ---------------------------------------------------------

def test_call_start_keeps_the_max_length_the_tenant_had_when_the_call_began(salon):
    with tenant_context(salon):
        call = call_start(called_number="+15550100001", caller_number="+15557654321", now=TUESDAY_AFTER_DST)
        AgentSettings.objects.update(max_call_seconds=900)
        call.refresh_from_db()
        assert call.max_call_seconds == 600


def test_the_config_falls_back_to_the_default_voice_and_reports_the_speed_as_a_number(salon, settings):
    settings.DEFAULT_VOICE_ID = "default-voice"
    with tenant_context(salon):
        AgentSettings.objects.update(voice_id="", voice_speed=Decimal("1.25"))
        call = call_start(called_number="+15550100001", caller_number="", now=TUESDAY_AFTER_DST)
        config = call_config_build(tenant=salon, call=call, now=TUESDAY_AFTER_DST).model_dump()
    assert config["voice"]["voice_id"] == "default-voice"
    assert config["voice"]["speed"] == 1.25


def test_the_config_says_no_transfer_when_the_tenant_has_no_target(salon):
    with tenant_context(salon):
        AgentSettings.objects.update(transfer_to="")
        call = call_start(called_number="+15550100001", caller_number="", now=TUESDAY_AFTER_DST)
        config = call_config_build(tenant=salon, call=call, now=TUESDAY_AFTER_DST).model_dump()
    assert config["transfer"] == {"available_now": False, "target": "", "ringing_timeout_seconds": 18,
                                  "fallback": "callback",
                                  "mode": "cold"}


def test_the_workers_own_sentences_come_in_the_tenants_language(committed_db, api_server, fixed_clock):
    fixed_clock(TUESDAY_AFTER_DST)
    english = started_call(api_server)["config"]
    with tenant_context(tenant_named("salon")):
        AgentSettings.objects.update(language="es-ES")
    try:
        spanish = started_call(api_server)["config"]
    finally:  # the demo tenants outlive this test (committed data)
        with tenant_context(tenant_named("salon")):
            AgentSettings.objects.update(language="en")

    assert english["phrases"]["say_again"] == "Sorry, could you say that again?"
    assert spanish["phrases"]["say_again"] == "Perdone, ¿podría repetirlo?"
    # Bookings are read back and confirmed before they are made.
    assert "Call create_booking or create_order with confirmed false first" in english["instructions"]
    # The prompt says which language to speak; the voice speaks the config's language (the worker's TTS).
    assert "Speak Spanish: greet, answer and read back in Spanish." in spanish["instructions"]
    assert "Speak English: greet, answer and read back in English." in english["instructions"]
    assert (english["language"], spanish["language"]) == ("en", "es-ES")
    assert spanish["phrases"]["filler"] == "Un momento."
    assert "ajá" in spanish["phrases"]["backchannels"].split("|")
    assert spanish["keypad"] == {"operator_key": "0"}


def test_every_sentence_of_the_worker_has_a_spanish_translation():
    from django.utils import translation

    from core.call_phrases import PHRASES

    with translation.override("es"):
        untranslated = [key for key, english in PHRASES.items() if translation.gettext(english) == english]
    assert untranslated == []
