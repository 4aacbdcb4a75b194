"""Callbacks the agent returns itself, through the real call path (issue 24, items 5 and 6).

A queued callback is due now; the periodic task dispatches the agent into a new room; the production voice worker starts the call over the internal
API, dials the customer through the outbound trunk made by `sip_sync` — the customer's baresip phone
listens on the platform's carrier port — and then, depending on who answers:

- a person ("Hello?"): the agent says who is calling and why, and the customer books in that call;
- a voicemail greeting: the agent waits for it to end, leaves the short message and hangs up, and the
  callback gets its next try scheduled;
- nobody (the phone rings out): the callback gets its next try scheduled.

What is asserted: the INVITE the customer's phone received (from the business's number), what the
Cartesia stand-in synthesised and the phone heard, and what the platform stored (the attempt and its
result, the call it links, the booking, the callback's status and next try).
"""
from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import schema_context

from devstack.audio import Script, speech_segments
from devstack.standins import ReceptionistTurns
from devstack.tests.test_real_calls import wait_for

pytestmark = [pytest.mark.realcall]

SALON_NUMBER = "+15550100001"
REASON = "booking a haircut"


@pytest.fixture
def salon_returns_callbacks(committed_db):
    """The salon lets its agent return callbacks, open and inside the calling window at any hour of the
    run (the tests use the real clock: the API, the worker and Celery all read it); restored afterwards."""
    from tenants.agent.models import AgentSettings
    from tenants.hours.models import OpeningHours

    with schema_context("salon"):
        saved_settings = AgentSettings.objects.values().get()
        saved_hours = list(OpeningHours.objects.values("weekday", "opens", "closes"))
        AgentSettings.objects.update(agent_returns_callbacks=True, callback_window_start_hour=0,
                                     callback_window_end_hour=24, callback_retry_minutes=90)
        OpeningHours.objects.all().delete()
        OpeningHours.objects.bulk_create(OpeningHours(weekday=day, opens=dt.time(0, 0), closes=dt.time(23, 59))
                                         for day in range(7))
    yield
    with schema_context("salon"):
        AgentSettings.objects.update(**{key: value for key, value in saved_settings.items() if key != "id"})
        OpeningHours.objects.all().delete()
        OpeningHours.objects.bulk_create(OpeningHours(**hours) for hours in saved_hours)


def queue_callback(number: str):
    from calls.services import callback_request_create

    with schema_context("salon"):
        return callback_request_create(call=None, caller_number=number, reason=REASON)


def place_due_callbacks() -> dict:
    """The periodic task, as beat runs it (in this process, which knows the local LiveKit server)."""
    from calls.tasks import callbacks_place_due

    return callbacks_place_due.apply().get()


def finished_attempt(callback_request, *, timeout: float = 90.0):
    from calls.models import CallbackAttempt

    def find():
        with schema_context("salon"):
            attempt = CallbackAttempt.objects.filter(callback_request=callback_request).select_related("call").first()
            return attempt if attempt is not None and attempt.result != "dialing" else None

    return wait_for(find, timeout=timeout, what="the callback attempt's result")


def spoken_since(providers, mark: int) -> str:
    return " ".join(text for _, text in providers.spoken[mark:])


def test_the_agent_calls_the_customer_back_says_why_and_takes_the_booking(
        platform, call_script, salon_returns_callbacks, tmp_path):
    from bookings.models import Booking
    from calls.models import Call

    customer = "+15559990101"
    callback_request = queue_callback(customer)
    call_script(transcripts=["I'd like to book a haircut, please.", "That's all, thank you, bye."],
                turns=ReceptionistTurns(goodbye_outcome="booked"))
    wav, lines = Script([(0.6, "Hello?"), (13.0, "I would like to book a haircut please."),
                         (13.0, "That is all, thank you, bye.")]).render(tmp_path / "customer.wav")
    phone = platform.carrier_phone(customer, answer="auto", audio=wav)
    mark = len(platform.providers.spoken)
    try:
        assert place_due_callbacks() == {"salon": 1}
        invite = phone.wait_received("INVITE", timeout=30)
        phone.wait_event("CALL_ESTABLISHED", timeout=20)
        phone.wait_received("BYE", timeout=120)
    finally:
        phone.stop()

    # The customer's phone rang from the business's own number.
    assert SALON_NUMBER in invite.headers["from"]
    assert invite.first_line.startswith(f"INVITE sip:{customer}@")
    # The agent said who is calling and why, and the customer heard speech after their "Hello?".
    said = spoken_since(platform.providers, mark)
    assert f"You asked us to call you back about {REASON}" in said
    assert "Bella Hair Studio" in said
    heard, rate = phone.heard()
    assert any(segment.start > lines[0].end for segment in speech_segments(heard, rate))

    attempt = finished_attempt(callback_request)
    assert attempt.result == "answered"
    with schema_context("salon"):
        callback_request.refresh_from_db()
        assert (callback_request.status, callback_request.handled_by) == ("done", "the agent (called back)")
        booking = Booking.objects.filter(customer_phone=customer).order_by("-id").first()
        assert booking is not None and booking.call_id == attempt.call_id
        call = wait_for(lambda: Call.objects.filter(pk=attempt.call_id, log_received_at__isnull=False).first(),
                        timeout=30, what="the call's log")
    assert call.caller_number == customer and call.called_number == SALON_NUMBER
    assert call.outcome == "booked"


def test_a_voicemail_gets_a_short_message_and_the_callback_a_later_try(platform, call_script,
                                                                        salon_returns_callbacks, tmp_path):
    customer = "+15559990102"
    callback_request = queue_callback(customer)
    call_script(transcripts=[], turns=ReceptionistTurns())
    greeting = ("Hi, you've reached Sam Taylor. I can't take your call right now. Please leave your name and "
                "number after the tone and I will call you back.")
    wav, lines = Script([(0.4, greeting)], tail_seconds=40.0).render(tmp_path / "voicemail.wav")
    phone = platform.carrier_phone(customer, answer="auto", audio=wav)
    mark = len(platform.providers.spoken)
    try:
        assert place_due_callbacks() == {"salon": 1}
        phone.wait_event("CALL_ESTABLISHED", timeout=40)
        phone.wait_received("BYE", timeout=90)
    finally:
        phone.stop()

    said = spoken_since(platform.providers, mark)
    assert "Sorry we missed you; we will try again later." in said
    # The opening for a person was never said to the machine.
    assert "Is now a good time?" not in said
    heard, rate = phone.heard()
    # The message came after the greeting had ended (it is on the recording the voicemail keeps).
    assert any(segment.start > lines[0].end for segment in speech_segments(heard, rate))

    attempt = finished_attempt(callback_request)
    assert attempt.result == "voicemail" and attempt.call_id is not None
    with schema_context("salon"):
        callback_request.refresh_from_db()
    assert callback_request.status == "open"
    assert callback_request.call_after == attempt.ended_at + dt.timedelta(minutes=90)


def test_an_unanswered_callback_gets_a_later_try(platform, salon_returns_callbacks):
    customer = "+15559990103"
    callback_request = queue_callback(customer)
    phone = platform.carrier_phone(customer, answer="ignore")
    try:
        assert place_due_callbacks() == {"salon": 1}
        phone.wait_received("INVITE", timeout=30)
        attempt = finished_attempt(callback_request, timeout=90)
        assert not any(event.get("type") == "CALL_ESTABLISHED" for event in phone.events)
    finally:
        phone.stop()

    assert attempt.result == "no_answer"
    with schema_context("salon"):
        callback_request.refresh_from_db()
        attempt.call.refresh_from_db()
    assert callback_request.status == "open"
    assert callback_request.call_after == attempt.ended_at + dt.timedelta(minutes=90)
    assert attempt.call.status == "ended"
