"""CalDAV calendar sync against a real CalDAV server (Radicale on loopback), through the doors people
use: the owner connects the calendar in the admin; the agent's voice tools see its busy times and
their bookings appear in it (written by the real Celery worker); the owner reads the call log."""
import datetime as dt
import re
import socket
import time
import zoneinfo

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from calendars.models import CalendarConnection, CalendarEvent
from calendars.tests.radicale_server import PASSWORD, USERNAME
from voiceapi.tests.test_test_calls import grant_from_admin
from voiceapi.tests.voice_api import CALLER, a_call, assert_error, started_call, tenant_named, tool

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
# Monday 9 March 2026, 10:00 in New York; the salon is open on Tuesday 13:30–18:00.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
TUESDAY = "2026-03-10"


def new_york(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 10, hour, minute, tzinfo=NEW_YORK)


@pytest.fixture
def salon_call(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    return a_call(tenant_named("salon"))


def connect_caldav(radicale) -> CalendarConnection:
    """The owner connects the server's one calendar in the admin (discovery finds it)."""
    admin = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    response = admin.post("/admin/calendars/calendarconnection/connect/caldav/", {
        "server_url": radicale.url, "username": USERNAME, "password": PASSWORD, "service": "", "blocks": "all"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("salon"):
        return CalendarConnection.objects.get(status="connected")


def starts_at_two(result) -> list[str]:
    return [start for start in result["available_starts"] if start.startswith(f"{TUESDAY}T14:00")]


def colour_at_two(api_server, token):
    return tool(api_server, token, "check_availability", {"service": "colour", "date": TUESDAY, "time": "14:00"})


def test_it_keeps_the_agent_from_offering_or_booking_a_time_busy_in_the_calendar(api_server, salon_call, radicale):
    _call, token = salon_call
    before = colour_at_two(api_server, token).json()["result"]
    assert before["requested_available"] is True and starts_at_two(before)

    # The salon's own appointment, kept in its own calendar app.
    radicale.make_calendar("Salon").save_event(dtstart=new_york(14, 30), dtend=new_york(15, 0), summary="Mrs Jones, hand-booked")
    connect_caldav(radicale)

    after = colour_at_two(api_server, token).json()["result"]
    assert after["requested_available"] is False
    assert after["requested_unavailable_reason"] == "slot_taken"
    assert not starts_at_two(after)
    assert after["available_starts"], "other times that day are still offered"
    refused = assert_error(tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T14:00", "customer_name": "Ann Smith", "customer_phone": CALLER}),
        409, "slot_taken")
    assert refused["details"]["alternatives"]
    # Nor may a booking be moved into it.
    booked = tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T16:00", "customer_name": "Ann Smith", "customer_phone": CALLER})
    assert booked.status_code == 200, booked.text
    assert_error(tool(api_server, token, "reschedule_booking", {"booking_id": booked.json()["result"]["booking_id"],
                                                                 "start": f"{TUESDAY}T14:00",
                                                                 "customer_name": "Ann Smith"}), 409, "slot_taken")


def caldav_events(radicale) -> list:
    calendar = radicale.client().principal().calendars()[0]
    return [event.icalendar_component for event in calendar.events()]


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_it_writes_a_booking_to_the_calendar_and_moves_and_deletes_its_event(api_server, salon_call, radicale, celery_worker_process):
    _call, token = salon_call
    radicale.make_calendar("Salon")
    connect_caldav(radicale)

    booked = tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T14:00", "customer_name": "Ann Smith", "customer_phone": CALLER,
        "notes": "first visit"}, idempotency_key="book-1")
    assert booked.status_code == 200, booked.text
    booking_id = booked.json()["result"]["booking_id"]
    # The worker's retry of the same request adds no second booking, so no second event.
    tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T14:00", "customer_name": "Ann Smith", "customer_phone": CALLER,
        "notes": "first visit"}, idempotency_key="book-1")

    [event] = wait_for(lambda: caldav_events(radicale), "the booking's event")
    assert str(event["summary"]) == "Colour: Ann Smith"
    assert CALLER in str(event["description"]) and "first visit" in str(event["description"])
    assert f"/admin/bookings/booking/{booking_id}/change/" in str(event["description"])
    assert event.decoded("dtstart") == new_york(14, 0)
    assert event.decoded("dtend") == new_york(15, 30)

    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": f"{TUESDAY}T16:00",
                                                            "customer_name": "Ann Smith"})
    assert moved.status_code == 200, moved.text
    [event] = wait_for(lambda: [e for e in caldav_events(radicale) if e.decoded("dtstart") == new_york(16, 0)],
                       "the event to move")
    assert len(caldav_events(radicale)) == 1

    cancelled = tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "customer_name": "Ann Smith"})
    assert cancelled.status_code == 200, cancelled.text
    wait_for(lambda: not caldav_events(radicale), "the event to be deleted")


def test_it_keeps_a_test_calls_booking_out_of_the_calendar(api_server, salon_call, radicale, celery_worker_process,
                                                         settings):
    # The owner tries their agent from the admin ("Talk to your agent"): a test call.
    settings.LIVEKIT_BROWSER_URL = "ws://127.0.0.1:7880"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "devkey", "a-local-livekit-secret-of-32-chars!"
    settings.VOICE_AGENT_NAME = "soniq"
    radicale.make_calendar("Salon")
    connect_caldav(radicale)
    grant, _claims = grant_from_admin(owner_client("salon", SALON_HOST, SALON_OWNER[0]))
    test_call = started_call(api_server, called_number="", test_grant=grant)
    booking = {"service": "colour", "customer_name": "Ann Smith", "customer_phone": CALLER, "confirmed": True}

    tried = tool(api_server, test_call["call_token"], "create_booking", {**booking, "start": f"{TUESDAY}T14:00"})

    assert tried.status_code == 200, tried.text
    with schema_context("salon"):
        # Nothing to write: the booking goes when the test call ends, its event would stay.
        assert not CalendarEvent.objects.filter(booking_id=tried.json()["result"]["booking_id"]).exists()
    # A real caller's booking right after it is written, and is the calendar's only event.
    _call, token = salon_call
    booked = tool(api_server, token, "create_booking", {**booking, "start": f"{TUESDAY}T16:00"})
    assert booked.status_code == 200, booked.text
    [event] = wait_for(lambda: caldav_events(radicale), "the real booking's event")
    assert event.decoded("dtstart") == new_york(16, 0)
    with schema_context("salon"):
        assert CalendarEvent.objects.filter(booking_id=booked.json()["result"]["booking_id"]).exists()


def test_it_goes_on_with_the_calendars_last_known_busy_times_while_its_server_is_down(api_server, salon_call, radicale,
                                                                                   monkeypatch):
    call, token = salon_call
    radicale.make_calendar("Salon").save_event(dtstart=new_york(14, 30), dtend=new_york(15, 0), summary="Mrs Jones")
    connect_caldav(radicale)
    assert colour_at_two(api_server, token).json()["result"]["requested_available"] is False

    radicale.stop()
    # Minutes later: the mirror is stale, so the tool asks the server, which does not answer.
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING + dt.timedelta(minutes=5))
    response = colour_at_two(api_server, token)

    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["requested_available"] is False and not starts_at_two(result)
    assert any(start.startswith(f"{TUESDAY}T16:00") for start in
               tool(api_server, token, "check_availability",
                    {"service": "colour", "date": TUESDAY, "time": "16:00"}).json()["result"]["available_starts"])
    page = owner_client("salon", SALON_HOST, SALON_OWNER[0]).get(f"/admin/calls/call/{call.pk}/change/")
    text = page.content.decode()
    assert 'data-testid="call-calendars"' in text
    # As of the last read that worked (the test's 10:00, or the worker's own sync if it came later).
    assert "could not be reached" in text
    assert re.search(r"availability used its busy times as of \d{4}-\d\d-\d\d \d\d:\d\d", text)


def test_it_writes_a_booking_made_while_the_calendar_was_down_at_the_next_sync(api_server, salon_call, radicale,
                                                                                 celery_worker_process, smtp_server):
    _call, token = salon_call
    with schema_context("salon"):
        from notifications.services import notification_settings_update

        notification_settings_update(emails=["owner@salon.example"], sms_numbers=[], events=[])
    radicale.make_calendar("Salon")
    connection = connect_caldav(radicale)
    radicale.stop()

    booked = tool(api_server, token, "create_booking", {"confirmed": True,
        "service": "colour", "start": f"{TUESDAY}T16:00", "customer_name": "Ann Smith", "customer_phone": CALLER})
    assert booked.status_code == 200, booked.text  # the caller is booked whatever the calendar does
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    page_url = f"/admin/calendars/calendarconnection/{connection.pk}/change/"
    wait_for(lambda: "Failing since" in owner.get("/admin/calendars/calendarconnection/").content.decode(),
             "the failing state in the list")
    assert "could not be reached" in owner.get(page_url).content.decode()
    wait_for(lambda: [m for m in smtp_server.to("owner@salon.example") if "not answering" in m.subject],
             "the owner's email")

    radicale.start()
    assert owner.post(f"/admin/calendars/calendarconnection/{connection.pk}/sync/").status_code == 302
    [event] = wait_for(lambda: caldav_events(radicale), "the pending event written by the sync")
    assert str(event["summary"]) == "Colour: Ann Smith"
    wait_for(lambda: "Failing since" not in owner.get("/admin/calendars/calendarconnection/").content.decode(),
             "the calendar to be well again")


def test_it_lets_the_owner_pick_a_calendar_found_and_connects_nothing_on_a_wrong_password(committed_db, radicale):
    radicale.make_calendar("Salon")
    radicale.make_calendar("Private")
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    form = {"server_url": radicale.url, "username": USERNAME, "service": "", "blocks": "one"}
    assert "/admin/calendars/calendarconnection/" in owner.get("/admin/").content.decode()
    choices = owner.get("/admin/calendars/calendarconnection/add/").content.decode()
    assert "/admin/calendars/calendarconnection/connect/caldav/" in choices

    wrong = owner.post("/admin/calendars/calendarconnection/connect/caldav/", {**form, "password": "nope"})
    assert wrong.status_code == 200
    assert "Nothing was connected: The CalDAV server refused the username or app password." in wrong.content.decode()

    found = owner.post("/admin/calendars/calendarconnection/connect/caldav/", {**form, "password": PASSWORD})
    page = found.content.decode()
    assert "Found 2 calendars" in page and "Salon" in page and "Private" in page
    sealed = re.search(r'name="sealed_password" value="([^"]+)"', page).group(1)
    assert PASSWORD not in page
    chosen = re.search(r'name="calendar_url" value="([^"]+)"[^>]*>\s*Salon', page).group(1)

    connected = owner.post("/admin/calendars/calendarconnection/connect/caldav/",
                           {**form, "password": "", "sealed_password": sealed, "calendar_url": chosen})
    assert connected.status_code == 302, connected.content.decode()[:2000]
    with schema_context("salon"):
        connection = CalendarConnection.objects.get(status="connected")
    assert connection.name == "Salon" and connection.blocks == "one" and PASSWORD not in connection.secret


def test_it_writes_the_owners_own_booking_to_the_calendar_and_deletes_it_when_the_owner_cancels(
        committed_db, monkeypatch, radicale, celery_worker_process):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    radicale.make_calendar("Salon")
    connect_caldav(radicale)
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    with schema_context("salon"):
        from bookings.models import Booking, Service

        colour = Service.objects.get(name="Colour")
    added = owner.post("/admin/bookings/booking/add/", {"service": colour.pk, "date": TUESDAY, "time": "11:00",
                                                        "customer_name": "Walk In", "customer_phone": "+12015550144"})
    assert added.status_code == 302, added.content.decode()[:2000]
    [event] = wait_for(lambda: caldav_events(radicale), "the owner's booking in the calendar")
    assert str(event["summary"]) == "Colour: Walk In" and "Booked in Soniq by the business" in str(event["description"])

    with schema_context("salon"):
        booking = Booking.objects.get(customer_name="Walk In")
    # The action asks first; its confirmation, with the reason, cancels.
    cancelled = owner.post("/admin/bookings/booking/?when=all", {"action": "cancel_bookings", "confirm": "yes",
                                                                 "reason": "Closed", "_selected_action": [booking.pk]})
    assert cancelled.status_code == 302
    wait_for(lambda: not caldav_events(radicale), "the event to be deleted")


def test_it_blocks_only_the_service_a_calendar_is_connected_for(api_server, salon_call, radicale):
    _call, token = salon_call
    radicale.make_calendar("Haircuts").save_event(dtstart=new_york(14, 0), dtend=new_york(15, 0), summary="Trim")
    with schema_context("salon"):
        from bookings.models import Service

        haircut = Service.objects.get(name="Haircut")
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    assert owner.post("/admin/calendars/calendarconnection/connect/caldav/", {
        "server_url": radicale.url, "username": USERNAME, "password": PASSWORD, "service": haircut.pk,
        "blocks": "all"}).status_code == 302

    haircut_result = tool(api_server, token, "check_availability",
                          {"service": "haircut", "date": TUESDAY, "time": "14:00"}).json()["result"]
    assert haircut_result["requested_available"] is False
    assert colour_at_two(api_server, token).json()["result"]["requested_available"] is True


def test_it_waits_a_bounded_time_for_a_calendar_that_does_not_answer_then_goes_on(api_server, salon_call, radicale,
                                                                                  monkeypatch, settings):
    call, token = salon_call
    radicale.make_calendar("Salon").save_event(dtstart=new_york(14, 30), dtend=new_york(15, 0), summary="Mrs Jones")
    connect_caldav(radicale)
    assert colour_at_two(api_server, token).json()["result"]["requested_available"] is False
    # The server hangs: its port accepts connections and never answers.
    radicale.stop()
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", radicale.port))
    hung.listen(16)
    settings.CALENDAR_CALL_WAIT_MS, settings.CALENDAR_HTTP_TIMEOUT_SECONDS = 300, 3
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING + dt.timedelta(minutes=5))
    try:
        result = colour_at_two(api_server, token).json()["result"]
    finally:
        hung.close()

    assert result["requested_available"] is False and not starts_at_two(result)
    page = owner_client("salon", SALON_HOST, SALON_OWNER[0]).get(f"/admin/calls/call/{call.pk}/change/").content.decode()
    assert "no answer within 300 ms" in page
