"""A booking's page: titled on the business's clock, no internals, and Cancel (with a reason, the
customer texted) and Move (the agent's reschedule rules and text) on the page."""
import datetime as dt

from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make
from bookings.models import Booking, BookingEvent
from core import clock
from messaging.models import SmsMessage
from testing.demo_tenants import NEW_YORK

# Thursday 10 December 2026, 11:00 in New York (16:00 UTC); the clock is pinned to the Monday before.
THURSDAY_11 = dt.datetime(2026, 12, 10, 11, 0, tzinfo=NEW_YORK)
MONDAY = dt.datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK)


def a_colour_booking(monkeypatch) -> Booking:
    monkeypatch.setattr(clock, "now", lambda: MONDAY)
    with schema_context("salon"):
        return booking_make(service_name="Colour", start=THURSDAY_11, customer_name="Maria Lopez")


def test_it_is_titled_in_the_business_time_and_hides_the_internals(salon_admin, monkeypatch):
    booking = a_colour_booking(monkeypatch)

    page = salon_admin.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()

    assert "Colour on Thu 10 Dec 2026 at 11:00 AM, Maria Lopez" in page
    assert "16:00" not in page.split("<h1")[1].split("</h1>")[0]
    assert "2026-12-10 16:00" not in page  # the model's UTC name, in the breadcrumbs before
    assert "Lane" not in page and "Blocked until" not in page
    assert "Move booking" in page and "Cancel booking" in page


def test_it_cancels_with_a_reason_and_texts_the_customer(salon_admin, monkeypatch, django_capture_on_commit_callbacks):
    booking = a_colour_booking(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        response = salon_admin.post(f"/admin/bookings/booking/{booking.pk}/cancel/", {"reason": "Stylist ill"},
                                    follow=True)

    assert "Cancelled Colour on Thu 10 Dec 2026 at 11:00 AM, Maria Lopez. The customer is texted." in response.content.decode()
    assert "Cancelled by staff (Stylist ill)" in response.content.decode()
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "cancelled"
        assert BookingEvent.objects.get(booking=booking).reason == "Stylist ill"
        assert SmsMessage.objects.filter(booking=booking, kind=SmsMessage.Kind.BOOKING_CANCELLED).count() == 1


def test_it_asks_for_a_reason_before_cancelling(salon_admin, monkeypatch):
    booking = a_colour_booking(monkeypatch)

    response = salon_admin.post(f"/admin/bookings/booking/{booking.pk}/cancel/", {"reason": "  "}, follow=True)

    assert "Say why the booking is cancelled" in response.content.decode()
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_it_moves_by_the_agents_rules_and_texts_the_new_time(salon_admin, monkeypatch, django_capture_on_commit_callbacks):
    booking = a_colour_booking(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        response = salon_admin.post(f"/admin/bookings/booking/{booking.pk}/move/", {"date": "2026-12-11", "time": "14:00"},
                                    follow=True)

    assert "Moved to Colour on Fri 11 Dec 2026 at 2:00 PM, Maria Lopez." in response.content.decode()
    assert "Moved by staff from Thu 10 Dec, 11:00 AM to Fri 11 Dec, 2:00 PM" in response.content.decode()
    with schema_context("salon"):
        moved = Booking.objects.get(pk=booking.pk)
        assert moved.start == dt.datetime(2026, 12, 11, 14, 0, tzinfo=NEW_YORK)
        assert SmsMessage.objects.filter(booking=booking, kind=SmsMessage.Kind.BOOKING_RESCHEDULED).count() == 1


def test_it_refuses_a_move_the_agent_would_refuse(salon_admin, monkeypatch):
    booking = a_colour_booking(monkeypatch)

    # Monday: the salon is closed.
    response = salon_admin.post(f"/admin/bookings/booking/{booking.pk}/move/", {"date": "2026-12-14", "time": "11:00"},
                                follow=True)

    assert "Not moved:" in response.content.decode()
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).start == THURSDAY_11


def test_front_desk_without_change_permission_cannot_cancel(salon_admin, monkeypatch):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    booking = a_colour_booking(monkeypatch)
    with schema_context("salon"):
        viewer = get_user_model().objects.create_user(username="viewer@salon.example", password="x", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
        client = Client(HTTP_HOST="salon.localhost")
        client.force_login(viewer)

    assert client.post(f"/admin/bookings/booking/{booking.pk}/cancel/", {"reason": "x"}).status_code == 403
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"
