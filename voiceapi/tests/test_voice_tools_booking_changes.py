"""find_bookings, reschedule_booking and cancel_booking over HTTP: who may reach a booking, the
change notice, the rules and races of a move, freed slots and idempotent retries."""
import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django_tenants.utils import tenant_context

from bookings.models import Booking, BookingEvent, BookingPolicy
from bookings.voice import create_booking
from voiceapi.tests.voice_api import CALLER, a_call, assert_error, tenant_named
from voiceapi.tests.voice_api import tool as voice_tool

# Monday 9 March 2026, 10:00 in New York. The salon is closed on Mondays, open Tuesday 09:00-12:30, 13:30-18:00.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
OTHER_PHONE = "+15550107777"


@pytest.fixture
def salon_now(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def tool(api_server, token, action, body, **kwargs):
    """A voice tool call; a move or cancel carries the name on the booking, as it now must
    (bookings/verification.py, tested in bookings/tests/test_caller_verification.py)."""
    if action in ("reschedule_booking", "cancel_booking") and isinstance(body, dict):
        body = {"customer_name": "Ann Smith", **body}
    return voice_tool(api_server, token, action, body, **kwargs)


def booked(*, service: str = "Colour", start: str = "2026-03-10T10:00", name: str = "Ann Smith",
           phone: str = CALLER) -> int:
    with tenant_context(tenant_named("salon")):
        return create_booking(service_name=service, start=start, customer_name=name, customer_phone=phone,
                              now=MONDAY_MORNING).result["booking_id"]


def booking(booking_id: int) -> Booking:
    with tenant_context(tenant_named("salon")):
        return Booking.objects.get(pk=booking_id)


def events(booking_id: int) -> list[tuple[str, dt.datetime | None, dt.datetime | None]]:
    with tenant_context(tenant_named("salon")):
        return list(BookingEvent.objects.filter(booking_id=booking_id).values_list("kind", "from_start", "to_start"))


def found_ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [entry["booking_id"] for entry in response.json()["result"]["bookings"]]


def test_it_lists_the_callers_upcoming_bookings_by_the_number_they_call_from(api_server, salon_now):
    mine = booked()
    later = booked(service="Haircut", start="2026-03-11T15:00")
    booked(start="2026-03-10T14:00", name="Bob", phone=OTHER_PHONE)
    cancelled = booked(service="Haircut", start="2026-03-12T10:00")
    with tenant_context(tenant_named("salon")):
        Booking.objects.filter(pk=cancelled).update(status=Booking.Status.CANCELLED)
    _call, token = a_call(tenant_named("salon"))

    response = tool(api_server, token, "find_bookings", {})

    assert found_ids(response) == [mine, later]
    first = response.json()["result"]["bookings"][0]
    assert first == {"booking_id": mine, "service": "Colour", "start": "2026-03-10T10:00:00-04:00",
                     "end": "2026-03-10T11:30:00-04:00", "status": "confirmed"}
    assert "tomorrow at ten a.m." in response.json()["message"]


@pytest.mark.parametrize(("caller_number", "body", "visible"), [
    (CALLER, {}, True),                                                                    # same number
    (OTHER_PHONE, {"customer_phone": "555 765 4321", "customer_name": "ann smith"}, True),  # another phone, name and number
    (OTHER_PHONE, {"customer_phone": CALLER, "customer_name": "Ann Smyth"}, True),         # a small misspelling
    ("anonymous", {"customer_phone": CALLER, "customer_name": "Ánn Smith"}, True),         # withheld, accents
    (OTHER_PHONE, {"customer_phone": CALLER, "customer_name": "Peter Parker"}, False),     # wrong name
    (OTHER_PHONE, {}, False),                                                              # another phone, nothing given
    ("anonymous", {}, False),                                                              # withheld, nothing given
])
def test_only_the_caller_who_proves_the_booking_is_theirs_sees_and_changes_it(api_server, salon_now, caller_number,
                                                                             body, visible):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"), caller_number=caller_number)

    assert found_ids(tool(api_server, token, "find_bookings", body)) == ([booking_id] if visible else [])
    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00", **body})
    if visible:
        assert moved.status_code == 200, moved.text
        assert booking(booking_id).start == dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.UTC)
    else:
        assert_error(moved, 404, "booking_not_found")
        assert_error(tool(api_server, token, "cancel_booking", {"booking_id": booking_id, **body}), 404, "booking_not_found")
        assert booking(booking_id).status == Booking.Status.CONFIRMED
        assert booking(booking_id).start == dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)


def test_a_withheld_caller_is_asked_for_the_number_and_name(api_server, salon_now):
    _call, token = a_call(tenant_named("salon"), caller_number="anonymous")
    response = tool(api_server, token, "find_bookings", {})
    assert found_ids(response) == []
    assert "withheld" in response.json()["message"]
    error = assert_error(tool(api_server, token, "find_bookings", {"customer_phone": CALLER}), 422, "verification_incomplete")
    assert "name" in error["message"]


def test_someone_elses_booking_and_a_missing_one_look_the_same(api_server, salon_now):
    theirs = booked(phone=OTHER_PHONE, name="Bob")
    _call, token = a_call(tenant_named("salon"))

    not_mine = tool(api_server, token, "cancel_booking", {"booking_id": theirs})
    missing = tool(api_server, token, "cancel_booking", {"booking_id": theirs + 1000})

    assert_error(not_mine, 404, "booking_not_found")
    assert not_mine.json() == missing.json()
    assert booking(theirs).status == Booking.Status.CONFIRMED


def test_a_move_frees_the_old_time_for_the_next_caller_and_records_the_change(api_server, salon_now):
    booking_id = booked()
    call, token = a_call(tenant_named("salon"))

    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00"})

    assert moved.status_code == 200, moved.text
    assert moved.json()["result"] == {"booking_id": booking_id, "start": "2026-03-10T15:00:00-04:00",
                                      "end": "2026-03-10T16:30:00-04:00", "start_spoken": "tomorrow at three p.m."}
    assert events(booking_id) == [("moved", dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC),
                                   dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.UTC))]
    with tenant_context(tenant_named("salon")):
        assert BookingEvent.objects.get(booking_id=booking_id).call_id == call.pk
    # Colour has one place: the old 10:00 is free again, the new 15:00 is not.
    _other_call, other_token = a_call(tenant_named("salon"), caller_number=OTHER_PHONE)
    new = {"service": "Colour", "customer_name": "Bob", "customer_phone": OTHER_PHONE, "confirmed": True}
    assert tool(api_server, other_token, "create_booking", {**new, "start": "2026-03-10T10:00"}).status_code == 200
    assert_error(tool(api_server, other_token, "create_booking", {**new, "start": "2026-03-10T15:00"}), 409, "slot_taken")


def test_moving_to_the_same_time_changes_nothing(api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    response = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T10:00"})
    assert response.status_code == 200, response.text
    assert "already" in response.json()["message"]
    assert events(booking_id) == []


@pytest.mark.parametrize(("start", "code", "status"), [
    ("2026-03-10T12:45", "outside_hours", 422),   # the lunch break
    ("2026-03-09T15:00", "closed", 422),          # Mondays
    ("2026-03-09T09:00", "in_the_past", 422),
    ("2026-06-02T10:00", "too_far_ahead", 422),
    ("2026-03-10T14:00", "slot_taken", 409),      # Bob's Colour
])
def test_a_move_obeys_every_rule_of_a_new_booking(api_server, salon_now, start, code, status):
    booking_id = booked()
    booked(start="2026-03-10T14:00", name="Bob", phone=OTHER_PHONE)
    _call, token = a_call(tenant_named("salon"))
    assert_error(tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": start}), status, code)
    assert booking(booking_id).start == dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)


def test_a_cancel_frees_the_slot_for_the_next_caller(api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    response = tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "reason": "sick"})

    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"booking_id": booking_id, "status": "cancelled"}
    assert [kind for kind, *_ in events(booking_id)] == ["cancelled_by_caller"]
    assert found_ids(tool(api_server, token, "find_bookings", {})) == []
    _other_call, other_token = a_call(tenant_named("salon"), caller_number=OTHER_PHONE)
    next_caller = tool(api_server, other_token, "create_booking", {"confirmed": True, "service": "Colour", "start": "2026-03-10T10:00",
                                                                   "customer_name": "Bob", "customer_phone": OTHER_PHONE})
    assert next_caller.status_code == 200, next_caller.text
    # A cancelled booking cannot be moved back to life.
    assert_error(tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00"}),
                 409, "booking_cancelled")


@pytest.mark.parametrize("action", ["reschedule_booking", "cancel_booking"])
def test_a_retry_with_the_same_key_is_replayed_and_changes_once(api_server, salon_now, action):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    body = {"booking_id": booking_id, **({"start": "2026-03-10T15:00"} if action == "reschedule_booking" else {})}
    key = str(uuid.uuid4())

    first = tool(api_server, token, action, body, idempotency_key=key)
    retry = tool(api_server, token, action, body, idempotency_key=key)

    assert first.status_code == retry.status_code == 200, first.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(events(booking_id)) == 1


@pytest.fixture
def change_notice(committed_db):
    def set_hours(hours: int) -> None:
        with tenant_context(tenant_named("salon")):
            BookingPolicy.objects.update(change_notice_hours=hours)

    yield set_hours
    set_hours(0)


def test_a_change_inside_the_notice_is_refused_with_a_way_on(api_server, salon_now, change_notice):
    booking_id = booked()   # tomorrow 10:00, 24 hours away
    change_notice(48)
    _call, token = a_call(tenant_named("salon"))

    error = assert_error(tool(api_server, token, "cancel_booking", {"booking_id": booking_id}), 422, "too_late_to_change")
    assert "48 hours" in error["message"] and "call you back" in error["message"]
    assert_error(tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00"}),
                 422, "too_late_to_change")
    assert booking(booking_id).status == Booking.Status.CONFIRMED

    change_notice(24)   # exactly 24 hours before: still in time
    assert tool(api_server, token, "cancel_booking", {"booking_id": booking_id}).status_code == 200


def test_a_reschedule_racing_new_bookings_for_the_same_slot_never_double_books(api_server, salon_now):
    # Colour has one place. One caller moves their 10:00 to 15:00 while 49 others try to book 15:00
    # or the 10:00 being freed. Exactly one of each can win; the moved booking holds one of them.
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    others = [a_call(tenant_named("salon"), caller_number=f"+1555010{7000 + number}")[1] for number in range(49)]
    barrier = threading.Barrier(50)
    session_local = threading.local()

    def send(index: int):
        session = getattr(session_local, "session", None) or requests.Session()
        session_local.session = session
        barrier.wait()
        if index == 0:
            return "move", tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00"},
                                session=session)
        start = "2026-03-10T15:00" if index % 2 else "2026-03-10T10:00"
        return start, tool(api_server, others[index - 1], "create_booking", {"confirmed": True,
            "service": "Colour", "start": start, "customer_name": f"Caller {index}", "customer_phone": f"+1555010{7000 + index - 1}"},
            session=session)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(send, range(50)))

    assert {response.status_code for _what, response in results} <= {200, 409}
    with tenant_context(tenant_named("salon")):
        confirmed = list(Booking.objects.filter(status=Booking.Status.CONFIRMED).order_by("start")
                         .values_list("pk", "start"))
    starts = [start for _pk, start in confirmed]
    assert len(starts) == len(set(starts)) <= 2
    moved = dict(results)["move"]
    if moved.status_code == 200:
        assert (booking_id, dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.UTC)) in confirmed
    else:
        assert (booking_id, dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)) in confirmed
    # Every 200 holds a place, and nothing else does (the original booking when the move lost).
    wins = sum(response.status_code == 200 for _what, response in results)
    assert wins == len(confirmed) - (0 if moved.status_code == 200 else 1)


def test_the_openapi_schema_documents_the_new_tools(committed_db, api_server):
    import yaml

    schema = yaml.safe_load(requests.get(f"{api_server.url}/internal/schema/", timeout=10).text)
    for name in ("reschedule_booking", "cancel_booking"):
        operation = schema["paths"][f"/internal/voice-tools/{name}"]["post"]
        assert {"Idempotency-Key"} <= {parameter["name"] for parameter in operation["parameters"]}
        assert {"200", "400", "401", "404", "409", "422"} <= set(operation["responses"])
    assert "parameters" not in schema["paths"]["/internal/voice-tools/find_bookings"]["post"]
    reschedule = schema["components"]["schemas"]["RescheduleBookingRequest"]
    assert reschedule["additionalProperties"] is False and set(reschedule["required"]) == {"booking_id", "start"}
