"""THE RACE: 50 real concurrent HTTP requests for one free Colour slot (capacity 1) against the live
server and real PostgreSQL give exactly one booking and 49 × 409 slot_taken with alternatives.

Each request runs in its own server thread with its own database connection, carries its own
Idempotency-Key (so none is a replay of another), and all are released together by a barrier once
every client holds an open connection to the server."""
import datetime as dt
import threading
import uuid

import requests
from django_tenants.utils import tenant_context

from bookings.models import Booking
from core.reading import clock_words
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named

MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
REQUESTS = 50


def test_fifty_simultaneous_requests_for_one_free_slot_book_it_once(committed_db, api_server, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    salon = tenant_named("salon")
    _call, token = a_call(salon)
    barrier = threading.Barrier(REQUESTS)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def book(number: int) -> None:
        with requests.Session() as session:
            # Connect first: the test server's listen backlog is small, and 50 simultaneous connects
            # would measure that, not the booking. The POST then reuses the kept-alive connection.
            session.get(f"{api_server.url}/healthz", timeout=30).raise_for_status()
            barrier.wait()
            response = session.post(
                f"{api_server.url}/internal/voice-tools/create_booking",
                json={"confirmed": True, "service": "Colour", "start": "2026-03-10T14:00", "customer_name": f"Caller {number}",
                      "customer_phone": CALLER},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
                timeout=60,
            )
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=book, args=(number,)) for number in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * (REQUESTS - 1), statuses
    refusals = [response.json() for response in responses if response.status_code == 409]
    assert all(refusal["error"]["code"] == "slot_taken" for refusal in refusals)
    assert all(refusal["error"]["details"]["alternatives"] for refusal in refusals)
    # The alternatives are in the sentence the agent says, too ("... three forty-five p.m. ...").
    assert all(any(clock_words(dt.datetime.fromisoformat(alternative), twelve_hour=True) in refusal["error"]["message"]
                   for alternative in refusal["error"]["details"]["alternatives"])
               for refusal in refusals)
    with tenant_context(salon):
        bookings = list(Booking.objects.filter(service__name="Colour"))
    assert len(bookings) == 1
    assert bookings[0].start == dt.datetime(2026, 3, 10, 18, 0, tzinfo=dt.UTC)
