"""The Content-Security-Policy in a real Chromium: the admin's pages, the home page's charts and the
day view render without a single policy violation (a violation means a style or script the browser
refused, i.e. a broken-looking page). See docs/HOSTILE_INPUT.md, "Logins and headers"."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.browser import booked_call_with_transcript, log_in, salon_url
from backoffice.tests.factories import SALON_OWNER
from core import clock
from provisioning.demo_activity import demo_activity_seed
from tenants.models import Tenant

pytestmark = pytest.mark.browser

# Recorded by the page itself: the event fires for every refusal, whatever the console shows.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def violations_on(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("load")
    return page.evaluate("window.__cspViolations")


def test_the_admin_pages_render_without_policy_violations(api_server, committed_db, page, pinned_clock):
    salon = Tenant.objects.get(schema_name="salon")
    demo_activity_seed(tenant=salon, now=clock.now())
    call = booked_call_with_transcript()
    with schema_context("salon"):
        callback = call.callback_requests.create(caller_number="+15550142424", reason="Call me")
    page.add_init_script(RECORD_VIOLATIONS)
    base = salon_url(api_server)

    assert violations_on(page, f"{base}/admin/login/") == []
    log_in(page, base, *SALON_OWNER)
    page.wait_for_selector("text=How your phone line is doing")
    assert page.locator('[data-testid="chart-calls-per-day"] svg rect.bar').count() == 30
    assert page.evaluate("window.__cspViolations") == [], "home page"
    for path in ("/admin/calls/call/", f"/admin/calls/call/{call.pk}/change/",
                 f"/admin/calls/callbackrequest/{callback.pk}/change/", "/admin/bookings/booking/day/?date=2026-11-19",
                 "/admin/bookings/booking/add/", "/admin/orders/order/", "/admin/team/add/",
                 "/admin/team/"):
        assert violations_on(page, f"{base}{path}") == [], path
    # The styles really apply (a refused stylesheet would leave Django's default look).
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert violations_on(page, f"{api_server.url}/admin/login/") == [], "operator login"
