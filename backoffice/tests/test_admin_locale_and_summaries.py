"""Times as the business writes them (12-hour in the US, 24-hour in Germany) in the admin and in the
texts customers get; and pages that say when calls are not summarised instead of an empty column."""
import datetime as dt

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make, call_make, order_make
from bookings.sms import booking_confirmation_queue
from calls.summaries.models import CallSummary
from core import clock
from orders.sms import order_confirmation_queue
from testing.demo_tenants import BERLIN, NEW_YORK

FRIDAY_3PM = dt.datetime(2026, 11, 20, 15, 0, tzinfo=NEW_YORK)


@pytest.fixture
def thursday(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 19, 16, 40, tzinfo=NEW_YORK))


def test_a_us_salon_reads_its_day_view_and_lists_on_the_12_hour_clock(salon_admin, thursday):
    with schema_context("salon"):
        booking_make(service_name="Colour", start=FRIDAY_3PM, customer_name="Aisha Khan")

    day = salon_admin.get("/admin/bookings/booking/day/?date=2026-11-20").content.decode()
    listed = salon_admin.get("/admin/bookings/booking/").content.decode()

    assert "3:00 PM–4:30 PM" in day and "open 9:00 AM–12:30 PM, 1:30 PM–6:00 PM" in day
    assert "15:00" not in day
    assert "Fri 20 Nov 2026, 3:00 PM–4:30 PM" in listed


def test_a_us_salons_texts_use_the_12_hour_clock(salon, thursday, settings):
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=FRIDAY_3PM, customer_name="Aisha Khan")
        sms = booking_confirmation_queue(booking=booking)

    assert "Fri 20 Nov at 3:00 PM" in sms.body


def test_a_berlin_pizzerias_texts_use_the_24_hour_clock(pizzeria, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 20, 18, 0, tzinfo=BERLIN))
    with schema_context("pizzeria"):
        from tenants.agent.models import AgentSettings

        AgentSettings.objects.update(sms_confirmations=True)
        order = order_make(items=[("Margherita", 1)])
        order.estimated_ready_at = dt.datetime(2026, 11, 20, 18, 20, tzinfo=BERLIN)
        order.save()
        sms = order_confirmation_queue(order=order)

    assert "Ready for pickup about 18:20." in sms.body


def test_without_a_summary_model_the_pages_say_calls_are_not_summarised(salon_admin, settings, thursday):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    with schema_context("salon"):
        call = call_make(started_at=clock.now() - dt.timedelta(minutes=5))

    home = salon_admin.get("/admin/").content.decode()
    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    assert "Calls are not summarised: no summary model is configured" in home
    assert "<th>Summary</th>" not in home
    assert "Calls are not summarised: no summary model is configured" in page


def test_with_a_summary_model_the_call_page_says_why_a_call_has_none(salon_admin, settings, thursday):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    with schema_context("salon"):
        call = call_make(started_at=clock.now() - dt.timedelta(minutes=5))
        CallSummary.objects.create(call=call, status="failed", error="The model timed out.")

    home = salon_admin.get("/admin/").content.decode()
    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    assert "<th>Summary</th>" in home
    assert "No summary: The model timed out." in page
