"""The admin's "Talk to your agent": the page, and the token endpoint that gives the signed-in owner
or staff member a short-lived LiveKit token for one new room dispatching the agent as their own
business's test call."""
import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_tenants.utils import schema_context
from livekit import api as livekit_api

from backoffice.tests.factories import PIZZERIA_HOST, SALON_HOST

KEY, SECRET = "devkey", "a-local-livekit-secret-of-32-chars!"


@pytest.fixture
def livekit_settings(settings):
    settings.LIVEKIT_BROWSER_URL = "wss://livekit.example.test"
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET


def front_desk_client() -> Client:
    with schema_context("salon"):
        clerk = get_user_model().objects.create_user(username="desk@salon.example", is_staff=True)
        clerk.groups.add(Group.objects.get(name="Front desk"))
    client = Client(HTTP_HOST=SALON_HOST)
    with schema_context("salon"):
        client.force_login(clerk)
    return client


def test_it_shows_the_page_with_call_hang_up_transcript_and_typing(salon_admin, livekit_settings):
    page = salon_admin.get("/admin/try/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="soniq-talk-call"' in html and 'id="soniq-talk-hangup"' in html
    assert 'id="soniq-talk-transcript"' in html and 'id="soniq-talk-text"' in html
    # The call library comes from our own static files, never from a CDN.
    assert "/static/vendor/livekit-client/livekit-client.umd.js" in html
    assert "https://cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
    assert "saved settings" in html and "test call" in html


def test_it_serves_livekit_client_from_the_static_files(salon_admin):
    from django.contrib.staticfiles import finders

    found = finders.find("vendor/livekit-client/livekit-client.umd.js")
    assert found, "npm ci (scripts/dev.py) has not installed livekit-client"
    with open(found, encoding="utf-8") as script:
        assert "registerTextStreamHandler" in script.read()


def test_the_pages_content_security_policy_lets_the_browser_reach_livekit_only(salon_admin, livekit_settings):
    policy = salon_admin.get("/admin/try/")["Content-Security-Policy"]
    elsewhere = salon_admin.get("/admin/")["Content-Security-Policy"]

    assert "connect-src 'self' wss://livekit.example.test https://livekit.example.test" in policy
    assert "script-src 'self';" in policy  # still no inline or foreign script
    assert "livekit" not in elsewhere


def test_it_gives_the_owner_a_short_lived_token_for_one_new_room_dispatching_the_agent(salon_admin, livekit_settings):
    first = salon_admin.post("/admin/try/token")
    second = salon_admin.post("/admin/try/token")

    assert first.status_code == 200
    body = first.json()
    assert body["url"] == "wss://livekit.example.test"
    claims = livekit_api.TokenVerifier(KEY, SECRET).verify(body["token"])
    assert claims.video.room == body["room"] and body["room"].startswith("test-salon-")
    assert claims.video.room_join and not claims.video.room_admin and not claims.video.room_create
    assert body["room"] != second.json()["room"]  # one room per call
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == "soniq"
    assert json.loads(dispatch.metadata)["test_grant"]
    # Short-lived: the JWT expires within minutes.
    import jwt

    expires = dt.datetime.fromtimestamp(jwt.decode(body["token"], options={"verify_signature": False})["exp"], dt.UTC)
    assert expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=5)


def test_the_owner_of_one_business_gets_no_token_at_another(salon_admin, livekit_settings, pizzeria):
    # The salon owner's session means nothing at the pizzeria's domain: sent to its login.
    salon_admin.defaults["HTTP_HOST"] = PIZZERIA_HOST
    response = salon_admin.post("/admin/try/token")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_nobody_signed_out_gets_a_token(salon, livekit_settings):
    response = Client(HTTP_HOST=SALON_HOST).post("/admin/try/token")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_front_desk_staff_may_call_but_not_try_unsaved_settings(salon, livekit_settings):
    clerk = front_desk_client()

    assert clerk.get("/admin/try/").status_code == 200
    assert clerk.post("/admin/try/token").status_code == 200
    assert clerk.post("/admin/try/token", {"draft_key": "a" * 32}).status_code == 403
    assert clerk.post("/admin/try/", {"greeting": "Hi"}).status_code == 403


def test_without_livekit_the_page_says_what_to_set_and_the_token_is_refused(salon_admin, settings):
    settings.LIVEKIT_BROWSER_URL = ""
    settings.LIVEKIT_API_KEY = ""

    page = salon_admin.get("/admin/try/").content.decode()
    token = salon_admin.post("/admin/try/token")

    assert "Test calls need LiveKit on the server" in page and "LIVEKIT_API_KEY" in page
    assert token.status_code == 503
    assert token.json()["error"]["code"] == "livekit_not_configured"


def test_the_settings_form_offers_a_test_call_with_the_unsaved_settings(salon_admin):
    form = salon_admin.get("/admin/agent/agentsettings/1/change/").content.decode()

    assert 'formaction="/admin/try/"' in form
    assert "Check against scenarios" in form


def test_a_draft_that_does_not_validate_is_not_tried(salon_admin, livekit_settings):
    page = salon_admin.post("/admin/try/", {"greeting": "", "business_name": ""})

    assert page.status_code == 200
    assert page.context["draft_key"] == ""
    assert "Greeting" in page.content.decode()
