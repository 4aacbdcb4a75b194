""""Talk to your agent" from a real browser: Debian's Chromium, signed in to the salon's admin on the
platform's gunicorn, presses Call on /admin/try/ and talks to the production voice worker through the
local LiveKit server over WebRTC, with a fake microphone playing a caller's WAV.

The owner hears the greeting (the agent's remote audio track carries speech energy before the caller
has said anything), books a haircut by voice and reads the booking in the page's transcript, sees it in
the bookings list while the call is on, and after Hang up finds it gone (a test call leaves nothing
behind) and the call listed as a test call.

A token is for one business only: the salon owner's browser session, with its CSRF token, gets one at
the salon's domain and none at the pizzeria's, from the production web server (the same refusal through
Django's test client: backoffice/tests/test_admin_talk.py::test_the_owner_of_one_business_gets_no_token_at_another;
a grant changed or signed for another business is refused by the call start:
voiceapi/tests/test_test_calls.py::test_a_changed_or_foreign_grant_is_refused).
"""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from backoffice.tests.browser import CHROMIUM_ARGS, chromium_path
from backoffice.tests.factories import PIZZERIA_HOST, SALON_HOST, SALON_OWNER, owner_client
from devstack.audio import Script
from devstack.standins import ReceptionistTurns
from devstack.tests.test_real_calls import wait_for

pytestmark = [pytest.mark.realcall]

CALLER_SAYS = "I would like to book a haircut please."
CALLER_PHONE = "+15559990021"
# Chrome loops the fake microphone's file: the line once, then silence long enough that the call is
# over before it comes round again (and if the first time fell before the agent listened, the next does).
PAUSE_SECONDS, LOOP_SECONDS = 8.0, 45.0

# The agent's audio element, measured in the page with Web Audio: the loudest 20 ms RMS level (dBFS)
# so far, and how many caller lines the transcript showed when speech was first heard.
MEASURE_AGENT_AUDIO = """
(element) => {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(element.srcObject).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  window.__agentAudio = {peakDb: -100, callerLinesAtFirstSpeech: null};
  function sample() {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    const level = 10 * Math.log10(Math.max(sum / samples.length, 1e-10));
    const state = window.__agentAudio;
    state.peakDb = Math.max(state.peakDb, level);
    if (level > -40 && state.callerLinesAtFirstSpeech === null) {
      state.callerLinesAtFirstSpeech = document.querySelectorAll('[data-testid="talk-transcript"] li[data-who="caller"]').length;
    }
  }
  context.resume();
  setInterval(sample, 20);
}
"""
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def caller_wav(tmp_path_factory):
    silence_after = LOOP_SECONDS - PAUSE_SECONDS
    wav, _ = Script([(PAUSE_SECONDS, CALLER_SAYS)], rate=48000, tail_seconds=silence_after).render(
        tmp_path_factory.mktemp("talk") / "caller.wav")
    return wav


@pytest.fixture(scope="module")
def microphone_browser(caller_wav):
    """Chromium whose microphone is the caller's WAV, allowed without a prompt, reaching LiveKit on loopback."""
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={caller_wav}", "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required"]
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # As in backoffice/tests/browser.py: Playwright's sync API runs a loop in this thread, and the
    # test's ORM reads between browser steps are plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=chromium_path(), args=args)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def owner_page(platform, committed_db, microphone_browser):
    """A page signed in as the salon's owner at the salon's domain on the platform's gunicorn."""
    port = platform.web_url.rsplit(":", 1)[1]
    base = f"http://{SALON_HOST}:{port}"  # Chromium sends *.localhost to loopback itself
    context = microphone_browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US",
                                             permissions=["microphone"])
    context.set_default_timeout(30_000)
    # gunicorn checks passwords with production's hashers, the test database holds test-speed hashes:
    # the owner's session is made as the test client makes it and handed to the browser as its cookie.
    client = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "domain": SALON_HOST, "path": "/"}])
    page = context.new_page()
    page.goto(f"{base}/admin/")
    page.wait_for_selector("text=How your phone line is doing")
    yield page, base
    context.close()


def transcript_lines(page) -> list[tuple[str, str]]:
    return [tuple(line) for line in page.eval_on_selector_all(
        '[data-testid="talk-transcript"] li', "items => items.map(item => [item.dataset.who, item.textContent])")]


def test_the_owner_talks_to_the_agent_in_the_browser_books_by_voice_and_hang_up_leaves_nothing(
        platform, call_script, owner_page):
    from calls.models import Call

    page, base = owner_page
    call_script(transcripts=["I'd like to book a haircut, please."] * 3,
                turns=ReceptionistTurns(customer_phone=CALLER_PHONE))
    with schema_context("salon"):
        from tenants.agent.models import AgentSettings

        greeting = AgentSettings.objects.get().greeting
    bookings_page = page.context.new_page()

    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.goto(f"{base}/admin/try/")
    page.click("#soniq-talk-call")

    # The agent's voice arrives as a remote audio track, and it speaks before the caller said anything.
    audio = page.wait_for_selector('[data-testid="agent-audio"]', state="attached", timeout=90_000)
    audio.evaluate(MEASURE_AGENT_AUDIO)
    page.wait_for_function("() => window.__agentAudio.callerLinesAtFirstSpeech !== null", timeout=90_000)
    heard = page.evaluate("window.__agentAudio")
    assert heard["callerLinesAtFirstSpeech"] == 0, "the first thing heard came after the caller spoke"
    assert heard["peakDb"] > -40
    page.wait_for_function(
        """(greeting) => [...document.querySelectorAll('[data-testid="talk-transcript"] li[data-who="agent"]')]
                         .some(item => item.textContent.includes(greeting))""", arg=greeting, timeout=60_000)
    assert page.text_content('[data-testid="talk-status"]').startswith("Connected")

    # The caller asks for a haircut by voice; the agent books it and says so in the transcript.
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="talk-transcript"] li[data-who="agent"]')]
                 .some(item => /booked for a haircut .*[.?!]$/i.test(item.textContent))""", timeout=120_000)
    lines = transcript_lines(page)
    asked = lines.index(("caller", "You: I'd like to book a haircut, please."))
    assert any(who == "agent" and "booked for a haircut" in text.lower() for who, text in lines[asked + 1:]), lines

    # The page reached LiveKit (ws://127.0.0.1:<port>) under its Content-Security-Policy without one refusal.
    assert page.evaluate("window.__cspViolations") == []

    # While the call is on, the owner sees the test booking in the bookings list.
    bookings_page.goto(f"{base}/admin/bookings/booking/")
    assert "Maria Lopez" in bookings_page.content()

    page.click("#soniq-talk-hangup")
    page.wait_for_function("""() => document.querySelector('[data-testid="talk-status"]').textContent
                                        .startsWith('Call ended')""")
    assert page.is_enabled("#soniq-talk-call")

    # When the worker's log of the call arrives, what the test booked is removed: the list no longer has it.
    def call_logged():
        with schema_context("salon"):
            return Call.objects.filter(is_test=True, log_received_at__isnull=False).order_by("-started_at").first()

    call = wait_for(call_logged, timeout=60, what="the test call's log")
    assert call.outcome == "booked"

    def booking_gone() -> bool:
        bookings_page.goto(f"{base}/admin/bookings/booking/")
        return "Maria Lopez" not in bookings_page.content()

    wait_for(booking_gone, timeout=30, what="the test booking to leave the bookings list", interval=1.0)
    with schema_context("salon"):
        from bookings.models import Booking

        assert not Booking.objects.filter(customer_phone=CALLER_PHONE).exists()
    # The call itself stays in the calls list, for the owner to read, marked test.
    bookings_page.goto(f"{base}/admin/calls/call/")
    assert bookings_page.locator('[data-testid="test-call"]').count() == 1
    assert f"/admin/calls/call/{call.pk}/change/" in bookings_page.content()


def test_the_salon_owners_browser_session_gets_a_token_at_the_salon_and_none_at_the_pizzeria(platform, owner_page):
    """The same session and CSRF token, sent to gunicorn as the salon's and as the pizzeria's domain."""
    page, base = owner_page
    page.goto(f"{base}/admin/try/")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
               "X-CSRFToken": page.input_value("#soniq-talk input[name=csrfmiddlewaretoken]")}

    def token_request(host: str):
        # Playwright's own resolver does not know *.localhost: gunicorn's address with the tenant's Host.
        port = base.rsplit(":", 1)[1]
        return page.request.post(f"{platform.web_url}/admin/try/token",
                                 headers={**headers, "Host": f"{host}:{port}"}, max_redirects=0)

    at_salon = token_request(SALON_HOST)
    at_pizzeria = token_request(PIZZERIA_HOST)

    assert at_salon.status == 200 and at_salon.json()["room"].startswith("test-salon-")
    assert at_pizzeria.status == 302 and "/admin/login/" in at_pizzeria.headers["location"]
