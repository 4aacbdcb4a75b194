"""Test calls in the back office: listed with the calls, marked test, and left out of what the owner
counts on — the home page's figures, the operator's usage and the daily digest."""
import datetime as dt

from django_tenants.utils import schema_context

from backoffice.digest import digest_body
from backoffice.tests.factories import booking_make, call_make
from bookings.models import Booking
from calls.models import CallbackRequest
from core import clock
from testing.demo_tenants import NEW_YORK

# A Thursday afternoon in New York.
NOW = dt.datetime(2026, 3, 12, 17, 30, tzinfo=NEW_YORK)
MORNING = dt.datetime(2026, 3, 12, 9, 5, tzinfo=NEW_YORK)


def a_real_and_a_test_call_with_a_booking_each():
    real = call_make(started_at=MORNING, outcome="booked", duration_seconds="120", llm_prompt_tokens=1000)
    test = call_make(started_at=MORNING, outcome="booked", duration_seconds="300", llm_prompt_tokens=7777, is_test=True)
    booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 12, 15, 0, tzinfo=NEW_YORK), call=real)
    # A live test call's booking, not yet removed: it must not count either.
    booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 12, 16, 0, tzinfo=NEW_YORK), call=test)
    Booking.objects.update(created=MORNING)  # made during the calls, not when the test runs
    CallbackRequest.objects.create(call=test, caller_number="+15550123456", reason="Testing the transfer")
    return real, test


def test_the_home_page_counts_only_real_calls(salon_admin, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with schema_context("salon"):
        a_real_and_a_test_call_with_a_booking_each()

    summary = salon_admin.get("/admin/").context["summary"]

    assert summary.calls_today == 1
    assert summary.calls_last_period == 1
    assert summary.bookings_today == 1 and summary.bookings_made_today == 1
    assert summary.open_callbacks == 0
    assert summary.average_call_seconds == 120


def test_the_calls_list_marks_test_calls_and_filters_them(salon_admin):
    with schema_context("salon"):
        _real, test = a_real_and_a_test_call_with_a_booking_each()

    listing = salon_admin.get("/admin/calls/call/").content.decode()
    only_tests = salon_admin.get("/admin/calls/call/?is_test__exact=1")

    assert listing.count('data-testid="test-call"') == 1
    assert [call.pk for call in only_tests.context["cl"].result_list] == [test.pk]


def test_the_digest_leaves_test_calls_out(salon):
    with schema_context("salon"):
        a_real_and_a_test_call_with_a_booking_each()
        subject, body = digest_body(day=dt.date(2026, 3, 12))

    assert subject == "Yesterday's calls: 1 calls, 1 bookings, 0 orders"
    assert "Testing the transfer" not in body and "Callbacks still open: 0" in body


def test_the_operators_usage_leaves_test_calls_out(operator_admin, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC))
    with schema_context("salon"):
        a_real_and_a_test_call_with_a_booking_each()

    page = operator_admin.get("/admin/tenants/tenant/usage/").content.decode()

    salon_row = page[page.index("Bella Hair Studio"):].split("</tr>")[0]
    cells = [cell.split("<")[0].strip() for cell in salon_row.split('<td class="num">')[1:]]
    assert cells[:3] == ["1", "2.0", "1,000"]
    assert "7,777" not in page
