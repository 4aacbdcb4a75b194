"""The "Talk to your agent" page in a real Chromium, without a LiveKit server (the call itself is
tested against a real one in the realcall suite): livekit-client loads from our own static files
under the page's Content-Security-Policy, and Call fetches a token and says when LiveKit cannot be
reached."""
from __future__ import annotations

import pytest

from backoffice.tests.browser import log_in, salon_url
from backoffice.tests.factories import SALON_OWNER
from voiceworker.tests.fakes import free_port_url

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_the_page_loads_the_call_library_and_reports_an_unreachable_livekit(api_server, committed_db, page, settings):
    settings.LIVEKIT_BROWSER_URL = free_port_url().replace("http://", "ws://")
    settings.LIVEKIT_API_KEY = "devkey"
    settings.LIVEKIT_API_SECRET = "a-local-livekit-secret-of-32-chars!"
    base = salon_url(api_server)
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, base, *SALON_OWNER)
    page.wait_for_selector("text=How your phone line is doing")

    page.goto(f"{base}/admin/try/")

    assert page.evaluate("typeof window.LivekitClient.Room") == "function"
    tokens = []
    page.on("response", lambda response: tokens.append(response.status) if response.url.endswith("/admin/try/token") else None)
    page.click("#soniq-talk-call")
    page.wait_for_function("""() => !document.querySelector('#soniq-talk-call').disabled
                                     && !/Connecting/.test(document.querySelector('[data-testid="talk-status"]').textContent)""")
    assert tokens == [200]
    assert page.is_disabled("#soniq-talk-hangup")
    assert page.text_content('[data-testid="talk-status"]').startswith("Could not reach the call server")
    # The library and the page script ran, and the socket to LiveKit was allowed: not one refusal.
    assert page.evaluate("window.__cspViolations") == []
