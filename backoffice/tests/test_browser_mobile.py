"""Owners live on their phones: every page an owner uses daily (home, calls, a call, bookings, the
day view, orders) reads and works at 390 × 844 in Chromium. Nothing the owner needs sits off the
right edge of the screen, and no name or time is cut.

With SONIQ_SAVE_SCREENSHOTS=1 it saves docs/screenshot-phone-home.png, -phone-day.png and
-phone-orders.png."""
from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.browser import booked_call_with_transcript, log_in, salon_url
from backoffice.tests.factories import PIZZERIA_HOST, PIZZERIA_OWNER, SALON_OWNER, booking_make, order_make
from core import clock
from provisioning.demo_activity import demo_activity_seed
from tenants.models import Tenant
from testing.demo_tenants import NEW_YORK

pytestmark = pytest.mark.browser

OFFSCREEN = """(selector) => [...document.querySelectorAll(selector)]
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.right > window.innerWidth + 1 || r.left < -1); })
  .map(e => e.textContent.trim().slice(0, 40))"""
CUT = """(selector) => [...document.querySelectorAll(selector)]
  .filter(e => e.scrollWidth > e.clientWidth + 1 || (e.textContent.trim().length > 3 && e.getBoundingClientRect().width < 40))
  .map(e => e.textContent.trim().slice(0, 40))"""


@pytest.fixture
def phone(browser):
    from backoffice.login_throttle import login_failures_reset_all

    login_failures_reset_all()
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def offscreen(page, selector: str) -> list[str]:
    return page.evaluate(OFFSCREEN, selector)


def cut(page, selector: str) -> list[str]:
    return page.evaluate(CUT, selector)


def test_the_salon_owners_daily_pages_read_at_phone_width(api_server, committed_db, phone, pinned_clock, screenshot_dir):
    demo_activity_seed(tenant=Tenant.objects.get(schema_name="salon"), now=clock.now())
    call = booked_call_with_transcript()
    with schema_context("salon"):
        booking_make(service_name="Blow Dry", start=dt.datetime(2026, 11, 20, 9, 0, tzinfo=NEW_YORK),
                     customer_name="Alexandra Papadopoulou", lane=1)
    base = salon_url(api_server)
    log_in(phone, base, *SALON_OWNER)
    phone.wait_for_selector("text=How your phone line is doing")

    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert offscreen(phone, '[data-testid="recent-calls"] td') == []
    assert cut(phone, '[data-testid="recent-calls"] td') == []
    phone.screenshot(path=str(screenshot_dir / "screenshot-phone-home.png"), full_page=False)

    for path in ("/admin/calls/call/", "/admin/bookings/booking/?when=all"):
        phone.goto(f"{base}{path}")
        assert offscreen(phone, "#result_list tbody td, #result_list tbody th") == [], path
        assert cut(phone, "#result_list tbody td, #result_list tbody th") == [], path

    phone.goto(f"{base}/admin/calls/call/{call.pk}/change/")
    assert offscreen(phone, ".soniq-turn, [data-testid=call-facts]") == []

    phone.goto(f"{base}/admin/bookings/booking/day/?date=2026-11-20")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    blocks = phone.locator(".soniq-booking-block", has_text="Alexandra")
    assert "9:00 AM–9:30 AM" in blocks.inner_text()
    assert cut(phone, ".soniq-booking-block strong") == []
    assert phone.evaluate("""[...document.querySelectorAll('.soniq-booking-block')]
        .filter(e => e.scrollHeight > e.clientHeight + 1).map(e => e.textContent.trim())""") == []
    phone.screenshot(path=str(screenshot_dir / "screenshot-phone-day.png"), full_page=False)


def test_the_kitchen_list_shows_items_total_status_and_the_next_step_at_phone_width(api_server, committed_db, phone,
                                                                                     screenshot_dir):
    with schema_context("pizzeria"):
        order_make(items=[("Margherita", 2), ("Quattro Formaggi", 1), ("Coca-Cola", 3)], customer_name="Luca Rossi")
    base = api_server.url_for_host(PIZZERIA_HOST)
    log_in(phone, base, *PIZZERIA_OWNER)
    phone.goto(f"{base}/admin/orders/order/")

    row = phone.locator("#result_list tbody tr").first
    assert "Quattro Formaggi" in row.inner_text() and "39.90" in row.inner_text()
    assert offscreen(phone, "#result_list tbody td") == []
    button = row.locator("button.soniq-step").first
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    phone.screenshot(path=str(screenshot_dir / "screenshot-phone-orders.png"), full_page=False)
    button.click()
    phone.wait_for_selector("text=is now preparing", timeout=15_000)
