"""Dates at the ends of the calendar in the tenant admin (issue 12's hostile-input battery): the day
view, the lists' date drill-down and the operator's usage said 500 for 9999-12-31; now a page says the
date is out of range."""
import datetime as dt
import zoneinfo

import pytest
from django_tenants.utils import schema_context

from bookings.models import Booking, Service

NOW = dt.datetime(2026, 3, 12, 9, 50, tzinfo=zoneinfo.ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def _thursday(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: NOW)


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "2040-01-01"])
def test_the_day_view_says_a_far_date_is_out_of_range_and_shows_today(salon_admin, date):
    response = salon_admin.get(f"/admin/bookings/booking/day/?date={date}")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"{date} is out of range" in page
    assert "Bookings on Thursday 12 March 2026" in page


def test_the_day_view_still_shows_a_day_years_ahead(salon_admin):
    page = salon_admin.get("/admin/bookings/booking/day/?date=2030-06-03").content.decode()
    assert "Bookings on Monday 3 June 2030" in page and "out of range" not in page


@pytest.mark.parametrize("path", ["/admin/bookings/booking/", "/admin/calls/call/", "/admin/hours/closure/"])
@pytest.mark.parametrize("query", ["__year=9999&{f}__month=12&{f}__day=31", "__year=9999", "__year=1&{f}__month=1"])
def test_a_lists_date_drill_down_to_a_far_date_says_out_of_range(salon_admin, path, query):
    field = {"/admin/bookings/booking/": "start", "/admin/calls/call/": "started_at",
             "/admin/hours/closure/": "date"}[path]

    response = salon_admin.get(f"{path}?{field}{query.format(f=field)}", follow=True)

    assert response.status_code == 200
    assert "is out of range" in response.content.decode()
    assert response.redirect_chain[-1][0] == path


def test_a_walk_in_booked_for_the_last_day_of_the_calendar_is_refused_on_the_form(salon_admin):
    with schema_context("salon"):
        haircut = Service.objects.get(name="Haircut")
    form = {"service": haircut.pk, "date": "9999-12-31", "time": "23:59", "customer_name": "Walk In",
            "customer_phone": "(212) 555-0144", "notes": ""}

    response = salon_admin.post("/admin/bookings/booking/add/", form)

    assert response.status_code == 200
    assert "we only take bookings up to 60 days ahead" in response.content.decode()
    with schema_context("salon"):
        assert not Booking.objects.exists()


@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
def test_the_operators_usage_for_a_far_month_says_out_of_range(operator_admin, month):
    response = operator_admin.get(f"/admin/tenants/tenant/usage/?month={month}")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"{month} is out of range" in page and "Usage in March 2026 (UTC)" in page
