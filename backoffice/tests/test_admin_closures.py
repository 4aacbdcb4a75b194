"""Closing a day that has confirmed bookings: the owner is told how many, and chooses in the same
form to cancel them (each customer texted, through the business's own cancellation) or keep them."""
import datetime as dt

from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make
from bookings.models import Booking
from messaging.models import SmsMessage
from tenants.hours.models import Closure
from testing.demo_tenants import NEW_YORK

FRIDAY = dt.date(2031, 3, 14)


def two_bookings_on_friday() -> list[Booking]:
    with schema_context("salon"):
        return [booking_make(service_name="Haircut", start=dt.datetime.combine(FRIDAY, dt.time(10), tzinfo=NEW_YORK),
                             customer_name="Maria Lopez"),
                booking_make(service_name="Colour", start=dt.datetime.combine(FRIDAY, dt.time(14), tzinfo=NEW_YORK),
                             customer_name="Aisha Khan")]


def test_it_warns_with_the_count_and_closes_nothing_yet(salon_admin):
    two_bookings_on_friday()

    response = salon_admin.post("/admin/hours/closure/add/", {"date": FRIDAY.isoformat(), "reason": "Flooded"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Friday 14 March has 2 confirmed bookings" in page
    assert "Cancel them and text each customer" in page
    with schema_context("salon"):
        assert not Closure.objects.filter(date=FRIDAY).exists()
        assert Booking.objects.filter(status="confirmed", start__date=FRIDAY).count() == 2


def test_it_cancels_the_bookings_and_texts_each_customer_in_one_step(salon_admin, django_capture_on_commit_callbacks):
    bookings = two_bookings_on_friday()

    with django_capture_on_commit_callbacks(execute=True):
        response = salon_admin.post("/admin/hours/closure/add/", {"date": FRIDAY.isoformat(), "reason": "Flooded",
                                                                  "bookings_that_day": "cancel"}, follow=True)

    assert "Cancelled 2 bookings on Friday 14 March. Each customer is texted." in response.content.decode()
    with schema_context("salon"):
        assert Closure.objects.get(date=FRIDAY).reason == "Flooded"
        assert {booking.status for booking in Booking.objects.filter(pk__in=[b.pk for b in bookings])} == {"cancelled"}
        texts = SmsMessage.objects.filter(booking__in=bookings, kind=SmsMessage.Kind.BOOKING_CANCELLED)
        assert sorted(texts.values_list("booking__customer_name", flat=True)) == ["Aisha Khan", "Maria Lopez"]


def test_it_keeps_the_bookings_when_the_owner_says_so(salon_admin):
    two_bookings_on_friday()

    response = salon_admin.post("/admin/hours/closure/add/", {"date": FRIDAY.isoformat(), "reason": "",
                                                              "bookings_that_day": "keep"})

    assert response.status_code == 302
    with schema_context("salon"):
        assert Closure.objects.filter(date=FRIDAY).exists()
        assert Booking.objects.filter(status="confirmed", start__date=FRIDAY).count() == 2


def test_a_day_without_bookings_closes_at_once(salon_admin):
    response = salon_admin.post("/admin/hours/closure/add/", {"date": FRIDAY.isoformat(), "reason": "Holiday"})

    assert response.status_code == 302
