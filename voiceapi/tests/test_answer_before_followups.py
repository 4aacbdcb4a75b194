"""A caller on the line gets the tool's answer before the follow-ups of what it did run: the
customer's text, the owner's notification, the webhook and the calendars' event go after the
response (core/after_response.py), through a real HTTP server, as the voice worker calls it."""
from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from django_tenants.utils import tenant_context

from bookings import followups
from bookings.models import Booking
from core import after_response
from messaging.models import SmsMessage
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
BOOKING = {"service": "colour", "start": "2026-03-10T14:00", "customer_name": "Ann Smith",
           "customer_phone": CALLER, "confirmed": True}


@pytest.fixture
def salon_call(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    return a_call(tenant_named("salon"))


def confirmation_texts(booking_id: int) -> int:
    with tenant_context(tenant_named("salon")):
        return SmsMessage.objects.filter(booking_id=booking_id, kind=SmsMessage.Kind.CONFIRMATION).count()


def test_the_booking_is_answered_while_its_follow_ups_still_wait(api_server, salon_call, monkeypatch):
    _call, token = salon_call
    release = threading.Event()
    booking_created = followups.booking_created

    def held_back(**kwargs):
        # If the answer waited for the follow-ups, the request below would time out here.
        assert release.wait(timeout=20), "the test never released the follow-up"
        booking_created(**kwargs)

    monkeypatch.setattr(followups, "booking_created", held_back)

    response = tool(api_server, token, "create_booking", BOOKING, idempotency_key="answer-first",
                    wait_for_follow_ups=False)

    assert response.status_code == 200, response.text
    booking_id = response.json()["result"]["booking_id"]
    assert confirmation_texts(booking_id) == 0  # not yet: the follow-up is still held
    release.set()
    assert after_response.idle(timeout=20)
    assert confirmation_texts(booking_id) == 1


def test_a_follow_up_that_fails_after_the_answer_leaves_the_booking_and_the_server_well(
        api_server, salon_call, monkeypatch, caplog):
    _call, token = salon_call

    def broken(**kwargs):
        raise RuntimeError("the SMS provider's settings are corrupt")

    monkeypatch.setattr(followups, "booking_created", broken)

    with caplog.at_level(logging.ERROR, logger="core.after_response"):
        response = tool(api_server, token, "create_booking", BOOKING, idempotency_key="answer-then-fail")

    assert response.status_code == 200, response.text
    booking_id = response.json()["result"]["booking_id"]
    with tenant_context(tenant_named("salon")):
        assert Booking.objects.filter(pk=booking_id, status=Booking.Status.CONFIRMED).exists()
    assert "a follow-up failed after its write committed" in caplog.text
    # The thread that ran it serves the next caller as before.
    monkeypatch.undo()
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    again = tool(api_server, token, "create_booking", {**BOOKING, "start": "2026-03-10T10:00"}, idempotency_key="next")
    assert again.status_code == 200, again.text
    assert confirmation_texts(again.json()["result"]["booking_id"]) == 1
