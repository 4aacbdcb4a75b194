"""The bookings list: upcoming first, Today / Tomorrow / This week on the business's clock, and a
Cancel that asks for confirmation and a reason before it cancels anything."""
import datetime as dt

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make
from bookings.models import Booking, BookingEvent
from core import clock
from testing.demo_tenants import NEW_YORK

# Wednesday 9 December 2026, 23:30 in New York: already Thursday in UTC.
WEDNESDAY_NIGHT = dt.datetime(2026, 12, 9, 23, 30, tzinfo=NEW_YORK)


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, 0, tzinfo=NEW_YORK)


@pytest.fixture
def a_week_of_bookings(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: WEDNESDAY_NIGHT)
    with schema_context("salon"):
        booking_make(service_name="Haircut", start=at(8, 10), customer_name="Last Tuesday")
        booking_make(service_name="Haircut", start=at(9, 10), customer_name="This Morning")
        booking_make(service_name="Haircut", start=at(10, 10), customer_name="Thursday Client")
        booking_make(service_name="Haircut", start=at(12, 10), customer_name="Saturday Client")
        booking_make(service_name="Haircut", start=at(15, 10), customer_name="Next Week")


def names_listed(client, query: str = "") -> list[str]:
    page = client.get(f"/admin/bookings/booking/{query}").content.decode()
    return [name for name in ("Last Tuesday", "This Morning", "Thursday Client", "Saturday Client", "Next Week")
            if name in page]


def test_it_opens_on_upcoming_bookings(salon_admin, a_week_of_bookings):
    assert names_listed(salon_admin) == ["Thursday Client", "Saturday Client", "Next Week"]


@pytest.mark.parametrize(("when", "expected"), [
    ("today", ["This Morning"]),
    ("tomorrow", ["Thursday Client"]),
    ("week", ["Last Tuesday", "This Morning", "Thursday Client", "Saturday Client"]),
    ("all", ["Last Tuesday", "This Morning", "Thursday Client", "Saturday Client", "Next Week"]),
])
def test_it_filters_by_the_business_days(salon_admin, a_week_of_bookings, when, expected):
    assert names_listed(salon_admin, f"?when={when}") == expected


def test_a_day_picked_in_the_drill_down_shows_that_day_even_if_past(salon_admin, a_week_of_bookings):
    assert names_listed(salon_admin, "?start__year=2026&start__month=12&start__day=8") == ["Last Tuesday"]


def test_cancel_from_the_list_asks_first_and_cancels_nothing(salon_admin, a_week_of_bookings):
    with schema_context("salon"):
        booking = Booking.objects.get(customer_name="Thursday Client")

    response = salon_admin.post("/admin/bookings/booking/", {"action": "cancel_bookings", "_selected_action": [booking.pk]})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Cancel 1 booking?" in page and "Haircut on Thu 10 Dec 2026 at 10:00 AM, Thursday Client" in page
    assert 'name="reason"' in page and "Yes, cancel them" in page
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_cancel_from_the_list_needs_a_reason_and_records_it(salon_admin, a_week_of_bookings):
    with schema_context("salon"):
        booking = Booking.objects.get(customer_name="Thursday Client")
    action = {"action": "cancel_bookings", "_selected_action": [booking.pk], "confirm": "yes"}

    assert "This field is required" in salon_admin.post("/admin/bookings/booking/", {**action, "reason": ""}).content.decode()
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"

    response = salon_admin.post("/admin/bookings/booking/", {**action, "reason": "Stylist ill"}, follow=True)

    assert "Cancelled 1 booking." in response.content.decode()
    with schema_context("salon"):
        assert BookingEvent.objects.get(booking=booking).reason == "Stylist ill"
