"""Reminder texts for upcoming bookings: who gets one, once, and the periodic task over all tenants."""
import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from bookings.models import Booking, Service
from bookings.services import booking_reminders_queue
from bookings.tasks import booking_reminders_send
from messaging.models import SmsMessage
from tenants.agent.models import AgentSettings
from testing.demo_tenants import NEW_YORK

NOW = dt.datetime(2026, 3, 11, 15, 0, tzinfo=NEW_YORK)  # Wednesday afternoon


def booking(*, start: dt.datetime, booked: dt.datetime, name: str = "Ann Lee", status: str = "confirmed") -> Booking:
    service = Service.objects.get(name="Haircut")
    end = start + dt.timedelta(minutes=service.duration_minutes)
    made = Booking.objects.create(service=service, start=start, end=end, blocked_until=end, customer_name=name,
                                  customer_phone="+15550107777", status=status)
    Booking.objects.filter(pk=made.pk).update(created=booked)  # auto_now_add: set when it was made
    return made


def reminders() -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(kind=SmsMessage.Kind.BOOKING_REMINDER).order_by("booking__start"))


@pytest.fixture
def in_salon(salon):
    with schema_context("salon"):
        yield


def test_a_booking_made_days_ahead_is_reminded_once_the_day_before(in_salon):
    tomorrow = booking(start=dt.datetime(2026, 3, 12, 14, 30, tzinfo=NEW_YORK), booked=NOW - dt.timedelta(days=5))
    booking(start=dt.datetime(2026, 3, 12, 16, 0, tzinfo=NEW_YORK), booked=NOW - dt.timedelta(days=5))  # 25 h away

    assert [b.pk for b in booking_reminders_queue(now=NOW)] == [tomorrow.pk]
    assert booking_reminders_queue(now=NOW + dt.timedelta(minutes=10)) == []  # the next sweep

    (sms,) = reminders()
    assert (sms.booking_id, sms.to_number) == (tomorrow.pk, "+15550107777")
    assert sms.body == ("Bella Hair Studio: a reminder of your Haircut on Thu 12 Mar at 2:30 PM. See you then! "
                        "If you can't make it, please call us.")
    # An hour later the 16:00 booking is inside the day too.
    assert len(booking_reminders_queue(now=NOW + dt.timedelta(hours=1, minutes=5))) == 1


def test_no_reminder_for_late_bookings_cancelled_ones_or_the_past(in_salon):
    booking(start=NOW + dt.timedelta(hours=3), booked=NOW - dt.timedelta(hours=1))  # made today: confirmed is enough
    booking(start=NOW + dt.timedelta(hours=20), booked=NOW - dt.timedelta(days=3), status="cancelled")
    booking(start=NOW - dt.timedelta(hours=1), booked=NOW - dt.timedelta(days=3))

    assert booking_reminders_queue(now=NOW) == []
    assert reminders() == []


def test_no_reminder_while_sms_is_off_and_one_once_it_is_on(in_salon):
    AgentSettings.objects.update(sms_confirmations=False)
    booking(start=NOW + dt.timedelta(hours=20), booked=NOW - dt.timedelta(days=3))

    assert booking_reminders_queue(now=NOW) == [] and reminders() == []
    AgentSettings.objects.update(sms_confirmations=True)
    assert len(booking_reminders_queue(now=NOW)) == 1


def test_the_periodic_task_reminds_in_every_tenants_schema(salon, pizzeria, monkeypatch):
    soon = timezone.now() + dt.timedelta(hours=5)
    with schema_context("salon"):
        salon_booking = booking(start=soon, booked=soon - dt.timedelta(days=2))
    with schema_context("pizzeria"):
        AgentSettings.objects.update(sms_confirmations=True)
        Service.objects.create(name="Haircut", duration_minutes=30)  # a pizzeria that also takes table bookings
        pizzeria_booking = booking(start=soon, booked=soon - dt.timedelta(days=2))

    assert booking_reminders_send.apply().get() == {"salon": 1, "pizzeria": 1}

    with schema_context("salon"):
        assert [sms.booking_id for sms in reminders()] == [salon_booking.pk]
    with schema_context("pizzeria"):
        assert [sms.booking_id for sms in reminders()] == [pizzeria_booking.pk]


def test_beat_runs_the_reminders():
    from django.conf import settings

    from core.celery_app import app

    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == booking_reminders_send.name]
    assert entries and entries[0]["task"] in app.tasks
