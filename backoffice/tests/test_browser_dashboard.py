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
import os
import shutil
import urllib.request
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from backoffice.login_throttle import login_failures_reset_all
from backoffice.tests.factories import PIZZERIA_HOST, SALON_HOST, SALON_OWNER, booking_make, call_make
from bookings.models import Booking
from calls.models import CallbackRequest, CallNote
from calls.services import callback_request_create
from core import clock
from messaging.models import SmsMessage
from provisioning.demo_activity import demo_activity_seed
from tenants.agent.models import AgentSettings
from tenants.models import Tenant

pytestmark = pytest.mark.browser

DOCS = Path(settings.BASE_DIR) / "docs"


# The home and call pages are drawn at a fixed moment (a busy Thursday afternoon at the salon), so
# the screenshots do not depend on the day the tests run. The live server runs in this process and
# reads the time through `core.clock`, so pinning it here pins it there.
SCREENSHOT_MOMENT = dt.datetime(2026, 11, 19, 16, 40, tzinfo=zoneinfo.ZoneInfo("America/New_York"))


@pytest.fixture
def pinned_clock(monkeypatch) -> dt.datetime:
    monkeypatch.setattr(clock, "now", lambda: SCREENSHOT_MOMENT)
    return SCREENSHOT_MOMENT


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """docs/ when SONIQ_SAVE_SCREENSHOTS=1 (to refresh the committed screenshots), else a temporary
    folder, so an ordinary test run does not rewrite tracked files."""
    if os.environ.get("SONIQ_SAVE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not Path(path).exists():
        pytest.fail("The browser tests need Chromium and it is not installed. Install Debian's package "
                    "(`apt-get install -y chromium`, which `make test` does when it runs as root) or set CHROMIUM_PATH.",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    # Playwright's sync API keeps an asyncio loop running in this thread, and Django then refuses
    # ORM calls here as "from an async context". The test's ORM calls are plain synchronous code
    # between browser steps, so Django's documented escape hatch is safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    login_failures_reset_all()
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def salon_url(api_server) -> str:
    return api_server.url_for_host(SALON_HOST)


def booked_call_with_transcript():
    """A realistic booking call in the salon's schema: transcript, tool calls, the booking, its SMS."""
    tz = Tenant.objects.get(schema_name="salon").tzinfo
    now = clock.now().astimezone(tz)
    started = now - dt.timedelta(minutes=42)
    friday = (now + dt.timedelta(days=(4 - now.weekday()) % 7 or 7)).replace(hour=15, minute=0, second=0, microsecond=0)
    with schema_context("salon"):
        call = call_make(
            started_at=started, caller_number="+15550142424", duration_seconds="118.6", outcome="booked",
            end_reason="caller said goodbye",
            turns=[
                ("assistant", "Thanks for calling Bella Hair Studio, this is Ava. How can I help you today?"),
                ("user", "Hi! I'd like to book a haircut for Friday afternoon, if you have anything."),
                ("assistant", "Let me check. On Friday I can offer 2:30, 3:00 or 4:15 PM. Which suits you?"),
                ("user", "Three o'clock is perfect."),
                ("assistant", "Lovely. Can I have your name, please?"),
                ("user", "Maria Lopez."),
                ("assistant", "Thanks, Maria. And is this number the best one for a text confirmation?"),
                ("user", "Yes, that's my mobile."),
                ("assistant", "You're booked for a haircut on Friday at 3 PM. You'll get a text shortly. "
                              "Anything else I can help with?"),
                ("user", "No, that's all. Thank you!"),
                ("assistant", "Thanks for calling Bella Hair Studio. See you on Friday, bye!"),
            ],
            tools=[
                ("check_availability", {"service": "Haircut", "date": friday.date().isoformat()},
                 {"ok": True, "result": {"available": True, "suggestions": ["14:30", "15:00", "16:15"]}}, 10),
                ("create_booking", {"service": "Haircut", "start": friday.replace(tzinfo=None).isoformat(timespec="minutes"),
                                    "customer_name": "Maria Lopez", "customer_phone": "+15550142424"},
                 {"ok": True, "result": {"start": friday.isoformat()}}, 30),
                ("end_call", {"reason": "booking made", "outcome": "booked"}, {"ok": True, "result": {"action": "hangup"}}, 42),
            ],
            llm_prompt_tokens=9120, llm_completion_tokens=164, stt_seconds=Decimal("52.40"), tts_characters=418,
            avg_llm_ttft_ms=431, avg_tts_ttfb_ms=262, avg_end_of_utterance_ms=540,
            metrics={"latency": [{"turn": n, "llm_ttft_ms": 380 + 17 * n, "tts_ttfb_ms": 240 + 5 * n,
                                  "end_of_utterance_ms": 500 + 9 * n} for n in (1, 3, 5, 7, 9, 11)]},
        )
        busy_lanes = set(Booking.objects.filter(
            service__name="Haircut", status="confirmed", start__lt=friday + dt.timedelta(hours=1),
            blocked_until__gt=friday).values_list("lane", flat=True))
        if busy_lanes >= {0, 1}:
            friday += dt.timedelta(days=7)
        booking = booking_make(service_name="Haircut", start=friday, customer_name="Maria Lopez", call=call,
                               lane=min({0, 1} - busy_lanes) if busy_lanes < {0, 1} else 0)
        SmsMessage.objects.create(to_number="+15550142424", from_number="+15550100001", booking=booking, call=call,
                                  status="sent", body="Bella Hair Studio: your haircut is booked for Fri at 15:00.")
        CallNote.objects.create(call=call, text="Prefers Anna as her stylist if she is in.")
    return call


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
    page.fill("#id_customer_phone", "555 010 4545")
    page.screenshot(path=str(screenshot_dir / "screenshot-add-booking.png"), full_page=True)
    page.click("input[type=submit]")

    page.wait_for_selector("text=Booked Nora Walk-In for Blow Dry on Thu 19 Nov at 17:00.")
    assert page.locator(".soniq-booking-block", has_text="Nora Walk-In").count() == 1
    with schema_context("salon"):
        booking = Booking.objects.get(customer_name="Nora Walk-In")
    assert (booking.customer_phone, booking.call_id) == ("+15550104545", None)


def test_it_refuses_the_salon_owners_credentials_at_the_pizzeria(api_server, committed_db, page):
    log_in(page, api_server.url_for_host(PIZZERIA_HOST), *SALON_OWNER)

    page.wait_for_selector(".errornote")
    assert "Please enter the correct" in page.locator(".errornote").inner_text()
    assert "/admin/login/" in page.url
    page.goto(f"{api_server.url_for_host(PIZZERIA_HOST)}/admin/")
    assert "/admin/login/" in page.url
