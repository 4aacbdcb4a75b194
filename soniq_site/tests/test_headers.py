"""Response headers (docs/HOSTILE_INPUT.md, "Logins and headers"): a Content-Security-Policy on every
admin page whose inline styles are covered by a nonce or a hash, never by 'unsafe-inline' for scripts
or <style> elements; `Cache-Control: no-store` on every internal API response."""
import base64
import datetime as dt
import hashlib
import re
from pathlib import Path

import django
import requests
from django.conf import settings
from django.template import Context as TemplateContext
from django.template import Template
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from backoffice.tests.factories import OPERATOR_HOST, SALON_HOST, call_make
from voiceapi.tests.voice_api import CALLER, started_call, tool


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_strict_policy(response, path: str) -> dict[str, list[str]]:
    directives = policy(response)
    assert directives["script-src"] == ["'self'"], path
    assert "'unsafe-inline'" not in directives["style-src"], path
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"], path
    return directives


def assert_styles_allowed(response, path: str) -> None:
    """Every inline <style> of the page carries the header's nonce or has a hash the header lists."""
    directives = assert_strict_policy(response, path)
    page = response.content.decode()
    assert "<script>" not in page, f"{path} has an inline script"
    for attributes, body in re.findall(r"<style([^>]*)>(.*?)</style>", page, re.S):
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert (nonce and f"'nonce-{nonce.group(1)}'" in directives["style-src"]) or \
            f"'sha256-{digest}'" in directives["style-src"], f"{path}: a <style> the policy blocks"


def test_every_tenant_admin_page_has_a_strict_policy_that_allows_its_own_styles(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=timezone.now() - dt.timedelta(hours=1), turns=[("user", "Hi")])
        callback = call.callback_requests.create(caller_number="+15550142424", reason="Call me")
    paths = ["/admin/", "/admin/calls/call/", f"/admin/calls/call/{call.pk}/change/", "/admin/calls/callbackrequest/",
             f"/admin/calls/callbackrequest/{callback.pk}/change/", "/admin/bookings/booking/",
             "/admin/bookings/booking/day/", "/admin/bookings/booking/add/", "/admin/orders/order/",
             "/admin/team/", "/admin/team/add/", "/admin/bookings/booking/week/", "/admin/password_change/"]
    for path in paths:
        response = salon_admin.get(path)
        assert response.status_code == 200, path
        assert_styles_allowed(response, path)


def test_the_login_pages_and_the_operator_admin_have_the_policy(operator_admin):
    for client, path in ((Client(HTTP_HOST=SALON_HOST), "/admin/login/"), (Client(HTTP_HOST=OPERATOR_HOST), "/admin/login/"),
                         (operator_admin, "/admin/"), (operator_admin, "/admin/tenants/tenant/")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_styles_allowed(response, path)


def test_each_page_gets_its_own_nonce(salon_admin):
    first, second = (policy(salon_admin.get("/admin/"))["style-src"] for _ in range(2))
    assert {value for value in first if value.startswith("'nonce-")} != {v for v in second if v.startswith("'nonce-")}


def style_hash(body: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"


def test_the_listed_hashes_are_those_of_the_installed_packages_styles():
    import django_tenants

    django_admin = Path(django.__file__).parent / "contrib" / "admin" / "templates" / "admin"
    tenants_admin = Path(django_tenants.__file__).parent / "templates" / "admin"
    (change_list,) = re.findall(r"<style>(.*?)</style>", (django_admin / "change_list.html").read_text(), re.S)
    expected = {style_hash(change_list)}
    for name in ("app_list.html", "index.html"):
        (body,) = re.findall(r"<style>(.*?)</style>", (tenants_admin / name).read_text(), re.S)
        # These bodies hold template tags: hash what they render to with our settings.
        expected.add(style_hash(Template("{% load tenant %}" + body).render(TemplateContext({}))))
    assert expected == set(settings.ADMIN_INLINE_STYLE_HASHES)


def test_internal_api_responses_are_never_stored(committed_db, api_server):
    call = started_call(api_server)
    assert call["call_token"]
    responses = {
        "start": requests.post(f"{api_server.url}/internal/calls/start", json={"called_number": "+15550100001",
                               "caller_number": CALLER, "room": "r", "sip_call_id": "s"},
                               headers={"Authorization": "Bearer test-internal-token"}, timeout=10),
        "unauthenticated start": requests.post(f"{api_server.url}/internal/calls/start", json={}, timeout=10),
        "tool": tool(api_server, call["call_token"], "log_note", {"note": "Prefers mornings"}),
        "unknown tool": tool(api_server, call["call_token"], "open_the_safe", {}),
        "not found": requests.get(f"{api_server.url}/internal/nothing-here", timeout=10),
        "schema": requests.get(f"{api_server.url}/internal/schema/", timeout=10),
    }
    for name, response in responses.items():
        assert "no-store" in response.headers.get("Cache-Control", ""), name
    assert responses["start"].status_code == 201
