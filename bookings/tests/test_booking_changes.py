"""A caller's move or cancel, as services: the change notice on the tenant's wall clock across a DST
change, the texts that follow, and the reminder that follows the new time."""
import datetime as dt
import zoneinfo

import pytest

from bookings.models import Booking, BookingPolicy
from bookings.services import booking_reminders_queue
from bookings.voice import cancel_booking, create_booking, reschedule_booking
from core.errors import DomainError
from messaging.models import SmsMessage
from tenants.agent.models import AgentSettings
from voiceapi.errors import http_status

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
PHONE = "+15550107777"


def book(start: str, *, now: dt.datetime, service: str = "Haircut") -> int:
    return create_booking(service_name=service, start=start, customer_name="Ann Lee", customer_phone=PHONE,
                          now=now).result["booking_id"]


def test_the_change_notice_is_counted_on_the_wall_clock_across_the_clock_change(in_salon):
    # Tuesday 10 March 2026, 10:00 EDT; the clocks went forward on Sunday 8 March. 72 hours' notice
    # means Saturday 7 March, 10:00 EST on the wall: 15:00 UTC, not the 14:00 UTC that elapsed hours give.
    booking_id = book("2026-03-10T10:00", now=dt.datetime(2026, 3, 5, 15, 0, tzinfo=dt.UTC))
    BookingPolicy.objects.update(change_notice_hours=72)

    with pytest.raises(DomainError) as refused:
        cancel_booking(booking_id=booking_id, caller_number=PHONE, customer_name="Ann Lee", now=dt.datetime(2026, 3, 7, 15, 1, tzinfo=dt.UTC))
    assert refused.value.code == "too_late_to_change" and http_status(refused.value) == 422
    assert "72 hours" in refused.value.message

    outcome = cancel_booking(booking_id=booking_id, caller_number=PHONE, customer_name="Ann Lee",
                                       now=dt.datetime(2026, 3, 7, 14, 59, tzinfo=dt.UTC))
    assert outcome.result["status"] == "cancelled"


def test_a_started_booking_cannot_be_changed_even_without_a_notice(in_salon):
    booking_id = book("2026-03-10T10:00", now=dt.datetime(2026, 3, 5, 15, 0, tzinfo=dt.UTC))
    with pytest.raises(DomainError) as refused:
        reschedule_booking(booking_id=booking_id, start="2026-03-10T15:00", caller_number=PHONE, customer_name="Ann Lee",
                           now=dt.datetime(2026, 3, 10, 14, 5, tzinfo=dt.UTC))
    assert refused.value.code == "too_late_to_change" and "already started" in refused.value.message


@pytest.fixture
def texts_on(in_salon):
    AgentSettings.objects.update(sms_confirmations=True)


def texts(kind: str) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(kind=kind).order_by("pk"))


WEDNESDAY = dt.datetime(2026, 3, 11, 15, 0, tzinfo=NEW_YORK)


def test_a_move_is_texted_with_the_new_time_and_the_reminder_follows_it(texts_on, django_capture_on_commit_callbacks):
    booking_id = book("2026-03-12T14:30", now=WEDNESDAY - dt.timedelta(days=5))
    Booking.objects.filter(pk=booking_id).update(created=WEDNESDAY - dt.timedelta(days=5))
    assert [b.pk for b in booking_reminders_queue(now=WEDNESDAY)] == [booking_id]  # of Thursday 14:30
    SmsMessage.objects.update(created=WEDNESDAY)  # auto_now_add: sent on this test's Wednesday

    with django_capture_on_commit_callbacks(execute=True):
        reschedule_booking(booking_id=booking_id, start="2026-03-13T14:30", caller_number=PHONE, customer_name="Ann Lee",
                           now=WEDNESDAY + dt.timedelta(hours=1))

    (moved,) = texts(SmsMessage.Kind.BOOKING_RESCHEDULED)
    assert moved.body == "Bella Hair Studio: your Haircut has moved to Fri 13 Mar at 14:30. See you then!"
    assert booking_reminders_queue(now=WEDNESDAY + dt.timedelta(hours=2)) == []  # Friday is not a day away yet
    assert [b.pk for b in booking_reminders_queue(now=WEDNESDAY + dt.timedelta(days=1))] == [booking_id]
    assert "Fri 13 Mar at 14:30" in texts(SmsMessage.Kind.BOOKING_REMINDER)[-1].body
    assert booking_reminders_queue(now=WEDNESDAY + dt.timedelta(days=1, minutes=10)) == []  # once


def test_a_cancel_by_phone_is_texted_and_never_reminded(texts_on, django_capture_on_commit_callbacks):
    booking_id = book("2026-03-12T14:30", now=WEDNESDAY - dt.timedelta(days=5))
    Booking.objects.filter(pk=booking_id).update(created=WEDNESDAY - dt.timedelta(days=5))

    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking_id=booking_id, caller_number=PHONE, customer_name="Ann Lee", reason="ill", now=WEDNESDAY)

    (cancelled,) = texts(SmsMessage.Kind.CANCEL_CONFIRMATION)
    assert cancelled.body == ("Bella Hair Studio: as you asked, your Haircut on Thu 12 Mar at 14:30 is cancelled. "
                              "Call us any time to book again.")
    assert booking_reminders_queue(now=WEDNESDAY) == []
    assert texts(SmsMessage.Kind.BOOKING_CANCELLED) == []  # not the business's apology
