"""The tenant owner's admin in a real Chromium (Debian's `chromium` driven by Playwright) against
the live test server: log in, read the home page, change the greeting and see the next call get it,
read a call's transcript, work the callback queue, and be refused at another tenant's domain.

These tests never skip: without Chromium they fail and say how to install it (`make test` installs
it where it can). With SONIQ_SAVE_SCREENSHOTS=1 the home and call pages are saved as
docs/screenshot-home.png and docs/screenshot-call.png.
"""
from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.browser import booked_call_with_transcript, log_in, salon_url
from backoffice.tests.factories import PIZZERIA_HOST, SALON_OWNER
from bookings.models import Booking
from calls.models import CallbackRequest
from calls.services import callback_request_create
from core import clock
from provisioning.demo_activity import demo_activity_seed
from tenants.agent.models import AgentSettings
from tenants.models import Tenant

pytestmark = pytest.mark.browser


def test_it_shows_the_salon_owner_the_home_page_with_charts(api_server, committed_db, page, screenshot_dir,
                                                            pinned_clock):
    salon = Tenant.objects.get(schema_name="salon")
    demo_activity_seed(tenant=salon, now=clock.now())
    booked_call_with_transcript()
    with schema_context("salon"):
        waiting = callback_request_create(call=None, caller_number="+15550177001", caller_name="Grace Miller",
                                          reason="Wants to ask about a colour correction before booking.")
        CallbackRequest.objects.filter(pk=waiting.pk).update(created=clock.now() - dt.timedelta(minutes=25))

    log_in(page, salon_url(api_server), *SALON_OWNER)

    page.wait_for_selector("text=How your phone line is doing")
    assert "today is Thursday 19 November" in page.locator("h1").inner_text()
    assert page.locator("#site-name").inner_text() == "Bella Hair Studio"
    calls_today = page.locator('[data-testid="card-calls"] .soniq-card-value').inner_text()
    assert int(calls_today) >= 1
    assert int(page.locator('[data-testid="card-bookings"] .soniq-card-value').inner_text()) >= 1
    assert int(page.locator('[data-testid="card-callbacks"] .soniq-card-value').inner_text()) >= 1
    assert page.locator('[data-testid="chart-calls-per-day"] svg rect.bar').count() == 30
    assert page.locator('[data-testid="chart-outcomes"] svg rect.bar').count() >= 3
    assert page.locator('[data-testid="recent-calls"] tbody tr').count() == 8
    page.screenshot(path=str(screenshot_dir / "screenshot-home.png"), full_page=True)
    assert (screenshot_dir / "screenshot-home.png").stat().st_size > 20_000


def test_it_gives_the_next_call_the_greeting_the_owner_just_saved(api_server, committed_db, page):
    with schema_context("salon"):
        original_greeting = AgentSettings.objects.get().greeting
    new_greeting = "Bella Hair Studio, this is Ava! Are you calling to book?"
    try:
        log_in(page, salon_url(api_server), *SALON_OWNER)
        page.click('nav[aria-label="Manage"] a:has-text("Agent settings")')
        page.fill("#id_greeting", new_greeting)
        page.click("input[name=_save]")
        page.wait_for_selector("text=Saved. The next call uses these settings.")

        request = urllib.request.Request(
            f"{api_server.url}/internal/calls/start", method="POST",
            data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456",
                             "room": "browser-test-room", "sip_call_id": "SCL_browser_test"}).encode(),
            headers={"Authorization": "Bearer test-internal-token", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            config = json.loads(response.read())["config"]
        assert config["greeting"] == new_greeting
    finally:
        # Tenant configuration outlives committed tests; leave the demo salon as it was.
        with schema_context("salon"):
            AgentSettings.objects.update(greeting=original_greeting)


def test_it_refuses_an_invalid_transfer_number_with_a_message(api_server, committed_db, page):
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.click('nav[aria-label="Manage"] a:has-text("Agent settings")')
    page.fill("#id_transfer_to", "the front desk")
    page.click("input[name=_save]")

    page.wait_for_selector("text=Please correct the error below.")
    assert page.get_by_text("is neither a phone number nor a SIP URI").is_visible()
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == "tel:+15550100900"


def test_it_opens_a_call_and_shows_its_transcript(api_server, committed_db, page, screenshot_dir, pinned_clock):
    call = booked_call_with_transcript()

    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.click('nav[aria-label="Manage"] a:text-is("Calls")')
    page.click("text=+1 555-014-2424")

    page.wait_for_url(f"**/admin/calls/call/{call.pk}/change/")
    transcript = page.locator('[data-testid="transcript"]')
    caller_turns = transcript.locator('[data-role="user"]').all_inner_texts()
    agent_turns = transcript.locator('[data-role="assistant"]').all_inner_texts()
    assert "Three o'clock is perfect." in caller_turns[1]
    assert "You're booked for a haircut on Friday at 3 PM." in agent_turns[4]
    assert transcript.locator('[data-testid="tool-call"]').count() == 3
    results = page.locator('[data-testid="call-results"]')
    assert "Booking: Haircut" in results.inner_text() and "Sent" in results.inner_text()
    assert "9284" in page.locator('[data-testid="call-usage"]').inner_text()
    page.locator('[data-testid="tool-call"]').nth(1).locator("summary").click()
    page.screenshot(path=str(screenshot_dir / "screenshot-call.png"), full_page=True)


def test_it_marks_a_callback_done_with_one_click(api_server, committed_db, page):
    with schema_context("salon"):
        callback = callback_request_create(call=None, caller_number="+15550177001", caller_name="Grace Miller",
                                           reason="Wants to ask about a colour correction before booking.")

    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.click('nav[aria-label="Manage"] a:has-text("Callback requests")')
    row = page.locator("#result_list tbody tr", has_text="Grace Miller")
    row.locator("button", has_text="Mark done").click()

    page.wait_for_selector("text=Marked done: call back +1 555-017-7001.")
    assert page.locator("#result_list tbody tr", has_text="Grace Miller").count() == 0
    with schema_context("salon"):
        callback = CallbackRequest.objects.get(pk=callback.pk)
    assert callback.status == "done"
    assert callback.handled_by == SALON_OWNER[0]
    assert callback.done_at is not None


def test_the_owner_adds_a_booking_from_the_day_view(api_server, committed_db, page, pinned_clock, screenshot_dir):
    # Thursday 19 November 2026, 16:40 in New York: 17:00 is inside the two hours' notice callers
    # must give, which does not apply to a booking the owner takes.
    log_in(page, salon_url(api_server), *SALON_OWNER)
    page.goto(f"{salon_url(api_server)}/admin/bookings/booking/day/?date=2026-11-19")
    page.click("a:has-text('Add booking')")
    page.select_option("#id_service", label="Blow Dry")
    page.fill("#id_time", "17:00")
    page.fill("#id_customer_name", "Nora Walk-In")
    page.fill("#id_customer_phone", "212 555 0145")
    page.screenshot(path=str(screenshot_dir / "screenshot-add-booking.png"), full_page=True)
    page.click("input[type=submit]")

    page.wait_for_selector("text=Booked Nora Walk-In for Blow Dry on Thu 19 Nov at 5:00 PM.")
    assert page.locator(".soniq-booking-block", has_text="Nora Walk-In").count() == 1
    with schema_context("salon"):
        booking = Booking.objects.get(customer_name="Nora Walk-In")
    assert (booking.customer_phone, booking.call_id) == ("+12125550145", None)


def test_it_refuses_the_salon_owners_credentials_at_the_pizzeria(api_server, committed_db, page):
    log_in(page, api_server.url_for_host(PIZZERIA_HOST), *SALON_OWNER)

    page.wait_for_selector(".errornote")
    assert "Please enter the correct" in page.locator(".errornote").inner_text()
    assert "/admin/login/" in page.url
    page.goto(f"{api_server.url_for_host(PIZZERIA_HOST)}/admin/")
    assert "/admin/login/" in page.url
