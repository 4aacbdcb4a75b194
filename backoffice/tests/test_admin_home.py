"""The tenant owner's home page: "how is my phone line doing"."""
import datetime as dt
import re
import zoneinfo

from django.core.management import call_command
from django_tenants.utils import schema_context

from backoffice.dashboard import tenant_home_summary
from backoffice.tests.factories import booking_make, call_make, order_make
from calls.models import Call, CallbackRequest
from testing.demo_tenants import NEW_YORK

# A Thursday afternoon in New York; 21:30 UTC.
NOW = dt.datetime(2026, 3, 12, 17, 30, tzinfo=NEW_YORK)


def test_it_counts_todays_calls_in_the_tenants_own_day(salon):
    with schema_context("salon"):
        call_make(started_at=dt.datetime(2026, 3, 12, 9, 5, tzinfo=NEW_YORK), outcome="booked")
        call_make(started_at=dt.datetime(2026, 3, 12, 0, 10, tzinfo=NEW_YORK), outcome="answered")
        call_make(started_at=dt.datetime(2026, 3, 12, 17, 20, tzinfo=NEW_YORK), duration_seconds=None)
        # 23:50 the day before in New York is already "today" in UTC: not today's.
        call_make(started_at=dt.datetime(2026, 3, 11, 23, 50, tzinfo=NEW_YORK), outcome="other")

        summary = tenant_home_summary(now=NOW, tz=NEW_YORK)

    assert summary.today == dt.date(2026, 3, 12)
    assert summary.calls_today == 3
    assert summary.calls_answered_today == 2
    assert [day.count for day in summary.calls_per_day[-2:]] == [1, 3]
    assert len(summary.calls_per_day) == 30 and summary.calls_per_day[0].day == dt.date(2026, 2, 11)
    assert summary.calls_last_period == 4


def test_it_sums_up_outcomes_and_the_average_call_length(salon):
    with schema_context("salon"):
        for outcome, seconds in [("booked", "120"), ("booked", "60"), ("callback", "90"), ("abandoned", "30")]:
            call_make(started_at=NOW - dt.timedelta(days=3), outcome=outcome, duration_seconds=seconds)
        call_make(started_at=NOW - dt.timedelta(days=45), outcome="answered", duration_seconds="600")

        summary = tenant_home_summary(now=NOW, tz=NEW_YORK)

    assert [(item.label, item.count) for item in summary.outcomes] == [
        ("Booked", 2), ("Abandoned (no log)", 1), ("Callback queued", 1),
    ]
    assert summary.average_call_seconds == 75


def test_it_counts_todays_appointments_open_callbacks_and_orders(salon, pizzeria):
    with schema_context("salon"):
        booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 12, 10, 0, tzinfo=NEW_YORK))
        booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 12, 11, 0, tzinfo=NEW_YORK), status="cancelled")
        booking_make(service_name="Colour", start=dt.datetime(2026, 3, 13, 10, 0, tzinfo=NEW_YORK))
        CallbackRequest.objects.create(caller_number="+15550123456", reason="Colour consultation")
        CallbackRequest.objects.create(caller_number="+15550123457", reason="Done already", status="done")
        summary = tenant_home_summary(now=NOW, tz=NEW_YORK)
    assert summary.bookings_today == 1
    assert summary.open_callbacks == 1
    assert summary.takes_bookings and not summary.takes_orders

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    with schema_context("pizzeria"):
        order_make(items=[("Margherita", 2)])
        order_make(items=[("Tiramisu", 1)], status="done")
        summary = tenant_home_summary(now=dt.datetime.now(berlin), tz=berlin)
    assert summary.orders_today == 2
    assert summary.orders_open == 1
    assert summary.takes_orders and not summary.takes_bookings


def test_it_shows_the_home_page_with_cards_charts_and_recent_calls(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20), caller_number="+15550199887",
                         outcome="booked", duration_seconds="184")
        CallbackRequest.objects.create(caller_number="+15550123456", reason="Colour consultation", call=call)

    response = salon_admin.get("/admin/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "How your phone line is doing" in page
    assert re.search(r'data-testid="card-calls".*?<div class="soniq-card-value">1</div>', page, re.S)
    assert re.search(r'data-testid="card-callbacks".*?<div class="soniq-card-value">1</div>', page, re.S)
    assert re.search(r'data-testid="card-average".*?<div class="soniq-card-value">3:04</div>', page, re.S)
    # Charts are inline SVG: 30 day columns, one outcome bar.
    calls_chart = re.search(r'data-testid="chart-calls-per-day".*?</svg>', page, re.S).group(0)
    assert calls_chart.count('<rect class="bar') == 30
    assert "1 call</title>" in calls_chart
    outcomes_chart = re.search(r'data-testid="chart-outcomes".*?</svg>', page, re.S).group(0)
    assert "Booked: 1" in outcomes_chart
    assert "+1 555-019-9887" in page
    assert f"/admin/calls/call/{call.pk}/change/" in page
    # The salon takes bookings, not orders: no orders card.
    assert 'data-testid="card-bookings"' in page and 'data-testid="card-orders"' not in page


def test_it_shows_the_pizzeria_its_orders(pizzeria_admin):
    with schema_context("pizzeria"):
        order_make(items=[("Margherita", 2), ("Coca-Cola", 2)])

    page = pizzeria_admin.get("/admin/").content.decode()

    assert "Luigi&#x27;s Pizzeria" in page or "Luigi's Pizzeria" in page
    assert re.search(r'data-testid="card-orders".*?<div class="soniq-card-value">1</div>', page, re.S)
    assert 'data-testid="card-bookings"' not in page


def test_it_says_so_when_there_are_no_calls_yet(salon_admin):
    page = salon_admin.get("/admin/").content.decode()
    assert "No calls yet" in page


def test_seed_demo_activity_fills_both_demo_tenants(salon, pizzeria):
    call_command("seed_demo_activity", days=10, verbosity=0)

    with schema_context("salon"):
        assert Call.objects.filter(turns__isnull=False).exists()
        assert Call.objects.filter(bookings__isnull=False).exists()
        # The SMS log shows confirmations and the day-before reminders, each for a booking.
        from messaging.models import SmsMessage

        kinds = set(SmsMessage.objects.filter(booking__isnull=False).values_list("kind", flat=True))
        assert kinds == {SmsMessage.Kind.CONFIRMATION, SmsMessage.Kind.BOOKING_REMINDER}
    with schema_context("pizzeria"):
        assert Call.objects.filter(orders__isnull=False).exists()
