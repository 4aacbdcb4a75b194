"""Google Calendar sync against a local stand-in for Google (calendars/tests/google_fake.py) driven by
the real client libraries: the owner's OAuth consent in the admin, push notifications, busy times
blocking the agent's tools, bookings written as events by the Celery worker (with a refreshed token),
a deleted event shown as a conflict, revoked access, and disconnecting."""
import datetime as dt
import re
import time
import zoneinfo
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django_tenants.utils import schema_context

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from calendars.models import CalendarConnection
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
OWNER_EMAIL = "owner@salon.example"


def next_tuesday() -> dt.date:
    """A Tuesday (the salon opens 09:00–12:30, 13:30–18:00) past the minimum notice, on the real clock
    (the Celery worker's)."""
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=2)
    while day.weekday() != 1:
        day += dt.timedelta(days=1)
    return day


TUESDAY = next_tuesday()


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(TUESDAY, dt.time(hour, minute), NEW_YORK)


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def google(committed_db, google_fake, api_server, celery_worker_process, settings, monkeypatch):
    """This process's settings pointed at the stand-in (the worker's already are)."""
    google_fake.reset()
    for name, value in google_fake.settings().items():
        setattr(settings, name, value)
    settings.CALENDAR_PUBLIC_URL = api_server.url
    # The stand-in's token endpoint is plain http on loopback; oauthlib insists on https otherwise.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with schema_context("salon"):
        from notifications.services import notification_settings_update

        notification_settings_update(emails=[OWNER_EMAIL], sms_numbers=[], events=[])
    return google_fake


def admin():
    return owner_client("salon", SALON_HOST, SALON_OWNER[0])


def connect_google(google_fake) -> CalendarConnection:
    """The owner's whole trip: Connect → Google's consent → the public relay → back in their admin."""
    owner = admin()
    started = owner.post("/admin/calendars/calendarconnection/connect/google/",
                         {"calendar_id": "primary", "service": "", "blocks": "all"})
    assert started.status_code == 302, started.content.decode()[:2000]
    consent_url = started["Location"]
    assert consent_url.startswith(google_fake.settings()["GOOGLE_OAUTH_AUTH_URI"])
    asked = {key: values[0] for key, values in parse_qs(urlparse(consent_url).query).items()}
    assert asked["scope"] == "https://www.googleapis.com/auth/calendar.events"
    assert asked["access_type"] == "offline" and asked["code_challenge_method"] == "S256"

    relayed = requests.get(google_fake.consent(consent_url), allow_redirects=False, timeout=10)
    assert relayed.status_code == 302, relayed.text
    back = urlparse(relayed.headers["Location"])
    assert back.hostname == SALON_HOST
    finished = owner.get(f"{back.path}?{back.query}", follow=True)
    assert "Connected Google: primary" in finished.content.decode()
    with schema_context("salon"):
        return CalendarConnection.objects.get(provider="google", status="connected")


def colour_at(api_server, token, clock: str) -> dict:
    response = tool(api_server, token, "check_availability", {"service": "colour", "date": TUESDAY.isoformat(), "time": clock})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def soniq_events(google_fake) -> list[dict]:
    return [event for key, event in google_fake.live_events().items() if key.startswith("soniq")]


def test_it_connects_a_google_calendar_and_keeps_its_tokens_encrypted(google):
    connection = connect_google(google)

    [refresh_token] = google.refresh_tokens
    assert connection.secret and refresh_token not in connection.secret
    page = admin().get(f"/admin/calendars/calendarconnection/{connection.pk}/change/").content.decode()
    assert "Connected" in page and refresh_token not in page
    # The worker's first sync opens a push channel to the public host.
    wait_for(lambda: google.channels, "a push channel")


def test_it_blocks_the_google_calendars_pushed_busy_times_and_writes_bookings_as_events(google, api_server, settings):
    connect_google(google)
    wait_for(lambda: google.channels, "a push channel")
    # Only the push may bring the new busy time: the tools do not read a calendar that looks fresh.
    settings.CALENDAR_FRESH_SECONDS = settings.CALENDAR_PUSH_FRESH_SECONDS = 86400
    call, token = a_call(tenant_named("salon"))
    assert colour_at(api_server, token, "14:00")["requested_available"] is True

    google.business_add_event(start=at(14, 30), end=at(15), summary="Mrs Jones")
    blocked = wait_for(lambda: (result := colour_at(api_server, token, "14:00"))["requested_available"] is False
                       and result, "the pushed busy time to block 14:00")
    assert blocked["requested_unavailable_reason"] == "slot_taken"

    booked = tool(api_server, token, "create_booking", {"confirmed": True, "service": "colour", "start": f"{TUESDAY}T16:00",
                                                        "customer_name": "Ann Smith", "customer_phone": CALLER,
                                                        "notes": "allergic to ammonia"})
    assert booked.status_code == 200, booked.text
    booking_id = booked.json()["result"]["booking_id"]
    [event] = wait_for(lambda: soniq_events(google), "the booking's event")
    assert event["summary"] == "Colour: Ann Smith"
    assert CALLER in event["description"] and "allergic to ammonia" in event["description"]
    assert f"/admin/bookings/booking/{booking_id}/change/" in event["description"]
    assert dt.datetime.fromisoformat(event["start"]["dateTime"]) == at(16)
    # Soniq's own event is the booking, not a second busy time: 16:00 is not blocked twice over.
    assert colour_at(api_server, token, "16:00")["requested_unavailable_reason"] == "slot_taken"

    google.expire_access_tokens()  # an hour later: google-auth refreshes the token on the 401
    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": f"{TUESDAY}T09:30",
                                                            "customer_name": "Ann Smith"})
    assert moved.status_code == 200, moved.text
    wait_for(lambda: [e for e in soniq_events(google) if dt.datetime.fromisoformat(e["start"]["dateTime"]) == at(9, 30)],
             "the event to move")
    assert len(soniq_events(google)) == 1 and google.refreshes >= 1

    assert tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "customer_name": "Ann Smith"}).status_code == 200
    wait_for(lambda: not soniq_events(google), "the event to be deleted")


def test_it_shows_an_event_deleted_in_the_calendar_as_a_conflict_not_a_cancellation(google, api_server, smtp_server):
    connect_google(google)
    wait_for(lambda: google.channels, "a push channel")
    _call, token = a_call(tenant_named("salon"))
    booking_id = tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T10:00", "customer_name": "Ann Smith",
        "customer_phone": CALLER}).json()["result"]["booking_id"]
    [event] = wait_for(lambda: soniq_events(google), "the booking's event")

    google.business_delete_event(event["id"])

    conflicts = wait_for(lambda: 'soniq-cancelled">Deleted in the calendar' in (page := admin().get(
        "/admin/calendars/calendarevent/?state=conflict").content.decode()) and page, "the conflict in the admin")
    assert "Colour: Ann Smith" in conflicts
    booking_page = admin().get(f"/admin/bookings/booking/{booking_id}/change/").content.decode()
    assert "Confirmed" in booking_page
    mail = wait_for(lambda: [m for m in smtp_server.to(OWNER_EMAIL) if "deleted" in m.subject.lower()], "the owner's email")
    assert "still confirmed" in mail[0].body

    event_pk = re.search(r"/admin/calendars/calendarevent/(\d+)/change/", conflicts).group(1)
    put_back = admin().post("/admin/calendars/calendarevent/", {"action": "put_back", "_selected_action": [event_pk]})
    assert put_back.status_code == 302
    wait_for(lambda: soniq_events(google), "the event back in the calendar")


def test_it_shows_and_tells_revoked_calendar_access_and_disconnecting_stops_everything(google, api_server, smtp_server):
    connection = connect_google(google)
    wait_for(lambda: google.channels, "a push channel")
    google.business_add_event(start=at(14, 30), end=at(15), summary="Mrs Jones")
    _call, token = a_call(tenant_named("salon"))
    wait_for(lambda: colour_at(api_server, token, "14:00")["requested_available"] is False, "the busy time")

    google.revoke_everything()  # the owner removed Soniq in their Google account
    owner = admin()
    assert owner.post(f"/admin/calendars/calendarconnection/{connection.pk}/sync/").status_code == 302
    wait_for(lambda: "Access revoked: connect again" in owner.get(
        f"/admin/calendars/calendarconnection/{connection.pk}/change/").content.decode(), "the revoked state")
    wait_for(lambda: [m for m in smtp_server.to(OWNER_EMAIL) if "connect it again" in m.subject], "the owner's email")

    disconnected = owner.post(f"/admin/calendars/calendarconnection/{connection.pk}/disconnect/", follow=True)
    assert "Disconnected" in disconnected.content.decode()
    assert colour_at(api_server, token, "14:00")["requested_available"] is True
    # Without access the channel could not be stopped; its notifications are refused (404: Google drops it).
    assert google.notify("primary") == [404]


def test_it_revokes_googles_access_when_the_calendar_is_disconnected(google, api_server):
    connection = connect_google(google)
    wait_for(lambda: google.channels, "a push channel")

    page = admin().post(f"/admin/calendars/calendarconnection/{connection.pk}/disconnect/", follow=True).content.decode()

    assert "its busy times no longer block bookings" in page
    assert not any(google.refresh_tokens.values()) and not google.channels
    with schema_context("salon"):
        connection.refresh_from_db()
    assert connection.status == "disconnected" and not connection.secret
