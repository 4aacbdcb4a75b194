"""Chromium for the admin's browser tests: the pytest fixtures (`browser`, `page`, `pinned_clock`,
`screenshot_dir`; registered in the root conftest) and the helpers the browser test modules share."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from backoffice.login_throttle import login_failures_reset_all
from backoffice.tests.factories import SALON_HOST, booking_make, call_make
from bookings.models import Booking
from calls.models import CallNote
from core import clock
from messaging.models import SmsMessage
from tenants.models import Tenant

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
