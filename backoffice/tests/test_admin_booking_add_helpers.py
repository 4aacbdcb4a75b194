"""What "Add booking" asks the server while the owner types: the free times of a service on a day,
and the returning customers matching a name or number."""
import datetime as dt

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make
from bookings.models import Booking, Service
from core import clock
from testing.demo_tenants import NEW_YORK

THURSDAY = dt.datetime(2026, 11, 19, 16, 40, tzinfo=NEW_YORK)


@pytest.fixture
def colour_booked_friday_morning(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: THURSDAY)
    with schema_context("salon"):
        booking_make(service_name="Colour", start=dt.datetime(2026, 11, 20, 10, tzinfo=NEW_YORK), customer_name="Maria Lopez")
        Booking.objects.filter(customer_name="Maria Lopez").update(customer_phone="+12125550142")
        return Service.objects.get(name="Colour")


def test_it_gives_the_free_times_by_the_agents_rules(salon_admin, colour_booked_friday_morning):
    body = salon_admin.get(f"/admin/bookings/booking/add/free-times/?service={colour_booked_friday_morning.pk}"
                           "&date=2026-11-20").json()

    assert body["status"] == "open"
    assert body["times"][0] == "13:30" and "10:00" not in body["times"]


@pytest.mark.parametrize("query", ["?service=abc&date=2026-11-20", "?service=1&date=nope", "?date=9999-12-31&service=1", ""])
def test_it_answers_400_not_500_to_nonsense(salon_admin, query):
    assert salon_admin.get(f"/admin/bookings/booking/add/free-times/{query}").status_code == 400


@pytest.mark.parametrize("typed", ["mari", "555 01", "212-555"])
def test_it_finds_a_returning_customer_by_name_or_number(salon_admin, colour_booked_friday_morning, typed):
    customers = salon_admin.get("/admin/bookings/booking/customers/", {"q": typed}).json()["customers"]

    assert customers == [{"name": "Maria Lopez", "phone": "+12125550142", "phone_text": "+1 212-555-0142"}]


def test_someone_without_the_bookings_cannot_search_customers(pizzeria_admin, colour_booked_friday_morning):
    # The pizzeria's owner at the salon's address is a stranger there: the login page, not the customers.
    assert pizzeria_admin.get("/admin/bookings/booking/customers/?q=mari", HTTP_HOST="salon.localhost").status_code == 302
