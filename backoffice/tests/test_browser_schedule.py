"""The schedule in Chromium: "Add booking" offers the free times of the chosen service and day and
finds a returning customer; a click on a free part of the day view opens "Add booking" for that
service and time; the week view lists the week; a booking's page offers Cancel and Move.

With SONIQ_SAVE_SCREENSHOTS=1 it saves docs/screenshot-week.png and docs/screenshot-booking.png."""
from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from backoffice.tests.browser import log_in, salon_url
from backoffice.tests.factories import SALON_OWNER, booking_make
from bookings.models import Booking
from testing.demo_tenants import NEW_YORK

pytestmark = pytest.mark.browser

# The pinned clock is Thursday 19 November 2026, 16:40 in New York; Friday is the 20th.
FRIDAY = dt.date(2026, 11, 20)


def at(hour: int, minute: int = 0, day: dt.date = FRIDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK)


def test_add_booking_offers_the_free_times_and_finds_a_returning_customer(api_server, committed_db, page,
                                                                          pinned_clock):
    with schema_context("salon"):
        # Colour takes one at a time, 90 minutes and 15 to clean up: 10:00 on Friday blocks the morning.
        booking_make(service_name="Colour", start=at(10), customer_name="Maria Lopez")
        Booking.objects.filter(customer_name="Maria Lopez").update(customer_phone="+12125550142")
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.goto(f"{salon_url(api_server)}/admin/bookings/booking/add/?date={FRIDAY.isoformat()}")

    page.select_option("#id_service", label="Colour")
    # The first service's times were shown on load; Colour's replace them.
    expect(page.locator("#soniq-free-times .soniq-chip").first).to_have_text("13:30")
    offered = page.locator("#soniq-free-times .soniq-chip").all_inner_texts()
    assert offered[0] == "13:30" and "10:00" not in offered and "09:00" not in offered
    page.click("#soniq-free-times .soniq-chip:has-text('14:00')")
    assert page.input_value("#id_time") == "14:00"

    page.fill("#id_customer_name", "Mari")
    page.click("#soniq-customers .soniq-chip:has-text('Maria Lopez')")
    assert page.input_value("#id_customer_phone") == "+12125550142"
    page.click("input[type=submit]")

    page.wait_for_selector("text=Booked Maria Lopez for Colour on Fri 20 Nov at 2:00 PM.")


def test_a_click_on_a_free_time_of_the_day_view_opens_add_booking_for_it(api_server, committed_db, page, pinned_clock):
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.goto(f"{salon_url(api_server)}/admin/bookings/booking/day/?date={FRIDAY.isoformat()}")

    column = page.locator(".soniq-lane-col[data-add-url]").nth(0)  # Blow Dry, the first by name
    box = column.bounding_box()
    first, last = int(column.get_attribute("data-first-hour")), int(column.get_attribute("data-last-hour"))
    # 14:00 and a few minutes: rounded down to the slot grid.
    y = box["y"] + box["height"] * ((14 - first) * 60 + 5) / ((last - first) * 60)
    page.mouse.click(box["x"] + box["width"] / 2, y)

    page.wait_for_selector("#soniq-booking-add")
    assert page.locator("#id_service option:checked").inner_text() == "Blow Dry"
    assert page.input_value("#id_date") == FRIDAY.isoformat()
    assert page.input_value("#id_time") == "14:00"


def test_the_week_view_and_a_bookings_page(api_server, committed_db, page, pinned_clock, screenshot_dir):
    with schema_context("salon"):
        booking = booking_make(service_name="Colour", start=at(11), customer_name="Aisha Khan")
        booking_make(service_name="Haircut", start=at(15, 30, FRIDAY + dt.timedelta(days=1)), customer_name="Tom Becker")
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.goto(f"{salon_url(api_server)}/admin/bookings/booking/day/?date={FRIDAY.isoformat()}")
    page.click("a.button:has-text('Week')")

    week = page.locator("[data-testid=week-view]")
    assert "Week of Mon 16 November 2026" in page.locator("h1").inner_text()
    assert "11:00 AM Colour · Aisha Khan" in week.inner_text() and "3:30 PM Haircut · Tom Becker" in week.inner_text()
    page.screenshot(path=str(screenshot_dir / "screenshot-week.png"), full_page=True)

    page.click("text=Aisha Khan")
    assert page.locator("h1").inner_text() == "Colour on Fri 20 Nov 2026 at 11:00 AM, Aisha Khan"
    assert page.get_by_role("button", name="Move booking").is_visible()
    page.fill("#id_cancel_reason", "Stylist ill")
    page.screenshot(path=str(screenshot_dir / "screenshot-booking.png"), full_page=True)
    page.click("button:has-text('Cancel booking')")
    page.wait_for_selector("text=Cancelled Colour on Fri 20 Nov 2026 at 11:00 AM, Aisha Khan.")
    with schema_context("salon"):
        assert Booking.objects.get(pk=booking.pk).status == "cancelled"
