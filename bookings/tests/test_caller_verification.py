"""Who may move or cancel a booking by phone (issue 29, item 3; bookings/verification.py), through the
voice tools over HTTP with a call token: a spoofed caller id finds bookings but changes none without
the name on the booking; the name matches with one small misspelling and no more; a business may want
a code texted to the booking's phone from a caller on another phone; guesses are bounded per call and
per number per hour, refused with a sentence and logged."""
import logging
import re

import pytest
from django_tenants.utils import tenant_context

from bookings.models import Booking, BookingPolicy
from messaging.models import SmsMessage
from voiceapi.tests.test_voice_tools_booking_changes import MONDAY_MORNING, OTHER_PHONE, booked, booking, found_ids
from voiceapi.tests.voice_api import a_call, assert_error, tenant_named, tool

VICTIM = "+15550123987"


@pytest.fixture
def salon_now(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def a_call_from(number: str) -> str:
    return a_call(tenant_named("salon"), caller_number=number)[1]


def test_a_spoofed_caller_id_finds_the_victims_booking_but_cannot_move_or_cancel_it(api_server, salon_now):
    victims = booked(name="Victor Vance", phone=VICTIM)
    token = a_call_from(VICTIM)  # the attacker's SIP caller id says the victim's number

    assert found_ids(tool(api_server, token, "find_bookings", {})) == [victims]
    cancel = assert_error(tool(api_server, token, "cancel_booking", {"booking_id": victims}), 422, "name_required")
    assert cancel["message"] == "Before that booking can be cancelled, what name is it booked under?"
    move = tool(api_server, token, "reschedule_booking", {"booking_id": victims, "start": "2026-03-10T15:00"})
    assert_error(move, 422, "name_required")
    assert (booking(victims).status, booking(victims).start.hour) == ("confirmed", 14)  # 10:00 in New York


@pytest.mark.parametrize(("said", "allowed"), [
    ("Victor Vance", True), ("victor vance", True), ("Victor Vanse", True), ("Vcitor Vance", True),
    ("Victoria Vance", False), ("Vic Vance", False), ("Victor", False), ("Vance", False),
])
def test_the_name_must_match_with_one_small_misspelling_at_most(api_server, salon_now, said, allowed):
    booking_id = booked(name="Victor Vance", phone=VICTIM)
    token = a_call_from(VICTIM)
    response = tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "customer_name": said})
    if allowed:
        assert response.status_code == 200, response.text
        assert booking(booking_id).status == "cancelled"
    else:
        assert_error(response, 422, "verification_failed")
        assert booking(booking_id).status == "confirmed"


def test_another_phone_with_a_name_one_letter_short_of_the_bookings_finds_nothing(api_server, salon_now):
    booked(name="Victoria Vance", phone=VICTIM)
    token = a_call_from(OTHER_PHONE)
    body = {"customer_phone": VICTIM, "customer_name": "Victor Vance"}
    assert found_ids(tool(api_server, token, "find_bookings", body)) == []


def test_guesses_are_bounded_per_call_with_a_sentence_and_a_log_line(api_server, salon_now, settings, caplog):
    settings.BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL = 5
    victims = booked(name="Victor Vance", phone=VICTIM)
    token = a_call_from("+15550199001")
    for guess in range(5):
        body = {"customer_phone": VICTIM, "customer_name": f"Guess Number{guess}"}
        assert found_ids(tool(api_server, token, "find_bookings", body)) == []
    with caplog.at_level(logging.WARNING, logger="bookings.verification"):
        # The sixth, even right, is refused: the call has guessed enough.
        right = {"customer_phone": VICTIM, "customer_name": "Victor Vance"}
        refusal = assert_error(tool(api_server, token, "find_bookings", right), 422, "too_many_attempts")
        assert_error(tool(api_server, token, "cancel_booking", {"booking_id": victims, **right}), 422, "too_many_attempts")
    assert "ask someone from the team to call you back" in refusal["message"]
    assert "booking verification refused" in caplog.text and "+15550199001" in caplog.text
    assert booking(victims).status == "confirmed"
    # Another caller is not affected.
    assert found_ids(tool(api_server, a_call_from(VICTIM), "find_bookings", {})) == [victims]


def test_guesses_are_bounded_per_caller_number_per_hour_across_calls(api_server, salon_now, settings):
    settings.BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL, settings.BOOKING_VERIFICATION_MAX_FAILURES_PER_HOUR = 3, 6
    booked(name="Victor Vance", phone=VICTIM)
    for _call in range(2):  # two calls of three guesses each, hanging up when refused
        token = a_call_from("+15550199002")
        for guess in range(3):
            tool(api_server, token, "find_bookings", {"customer_phone": VICTIM, "customer_name": f"Guess Number{guess}"})
    fresh_call = a_call_from("+15550199002")
    assert_error(tool(api_server, fresh_call, "find_bookings", {}), 422, "too_many_attempts")


@pytest.fixture
def code_policy(salon_now, signalwire_fake, settings):
    for name, value in signalwire_fake.settings().items():
        setattr(settings, name, value)
    with tenant_context(tenant_named("salon")):
        BookingPolicy.objects.update(change_verification=BookingPolicy.ChangeVerification.CODE)
    yield
    with tenant_context(tenant_named("salon")):
        BookingPolicy.objects.update(change_verification=BookingPolicy.ChangeVerification.NAME)


def texted_code() -> str:
    with tenant_context(tenant_named("salon")):
        sms = SmsMessage.objects.get(kind=SmsMessage.Kind.VERIFICATION_CODE)
    assert sms.to_number == VICTIM  # the booking's phone, not the caller's
    return re.search(r"\b(\d{6})\b", sms.body).group(1)


def test_a_business_that_wants_a_code_texts_one_to_the_bookings_phone_for_a_caller_on_another_phone(
        api_server, code_policy):
    booking_id = booked(name="Victor Vance", phone=VICTIM)
    token = a_call_from(OTHER_PHONE)
    who = {"customer_phone": VICTIM, "customer_name": "Victor Vance"}
    move = {"booking_id": booking_id, "start": "2026-03-10T15:00", **who}

    asked = tool(api_server, token, "reschedule_booking", move)
    assert asked.status_code == 200, asked.text
    assert asked.json()["result"]["verification"] == "code_sent" and "texted a six-digit code" in asked.json()["message"]
    code = texted_code()
    assert booking(booking_id).start.hour == 14  # not moved yet

    wrong = str((int(code) + 1) % 10**6).zfill(6)
    assert_error(tool(api_server, token, "reschedule_booking", {**move, "verification_code": wrong}), 422,
                 "verification_failed")
    moved = tool(api_server, token, "reschedule_booking", {**move, "verification_code": code})
    assert moved.status_code == 200, moved.text
    assert booking(booking_id).start.hour == 19  # 15:00 in New York


def test_with_a_code_policy_the_bookings_own_phone_still_needs_only_the_name(api_server, code_policy):
    booking_id = booked(name="Victor Vance", phone=VICTIM)
    response = tool(api_server, a_call_from(VICTIM), "cancel_booking", {"booking_id": booking_id,
                                                                       "customer_name": "Victor Vance"})
    assert response.status_code == 200, response.text
    with tenant_context(tenant_named("salon")):
        assert not SmsMessage.objects.filter(kind=SmsMessage.Kind.VERIFICATION_CODE).exists()
        assert Booking.objects.get(pk=booking_id).status == "cancelled"


def test_the_spec_sets_the_businesss_choice(db):
    from provisioning.services import TenantSpecError, tenant_spec_validate
    from provisioning.tests.test_followups_spec import spec as minimal_spec

    spec = minimal_spec()
    spec["booking_rules"] = {"change_verification": "code"}
    assert tenant_spec_validate(spec).spec.booking_rules.change_verification == "code"
    spec["booking_rules"] = {"change_verification": "caller_id"}
    with pytest.raises(TenantSpecError) as refused:
        tenant_spec_validate(spec)
    assert refused.value.field == "booking_rules.change_verification"
