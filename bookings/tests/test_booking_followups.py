"""Everything that follows a booking being made, moved or cancelled, heard where people hear it: the
customer's text, the owner's email and the staff text, and the signed webhook to the business's
endpoint. Each action goes through the door its user uses (a voice tool with a call token, or the
admin), and each test names the whole set, so a follow-up that goes missing fails one."""
import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from bookings.models import Booking
from bookings.services import booking_create
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

# Monday 9 March 2026, 10:00 in New York; the salon opens Tuesday 09:00-12:30, 13:30-18:00.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def salon_now(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def booked(*, service: str = "Colour", start: str = "2026-03-10T10:00") -> int:
    with tenant_context(tenant_named("salon")):
        return booking_create(service_name=service, start=start, customer_name="Ann Smith", customer_phone=CALLER,
                              now=MONDAY_MORNING).result["booking_id"]


def test_a_caller_moving_a_booking_by_phone_reaches_the_owner_the_staff_the_webhook_and_themselves(
        followups, api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00"})

    assert moved.status_code == 200, moved.text
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.rescheduled"}
    [mail] = heard.emails()
    assert mail.subject == "Moved: Colour to Tue 10 Mar at 15:00 (Ann Smith)"
    assert "from Tue 10 Mar at 10:00 to Tue 10 Mar at 15:00 by phone" in mail.body
    [payload] = heard.webhooks("booking.rescheduled")
    assert payload["data"]["booking_id"] == booking_id and payload["data"]["by_caller"] is True
    assert payload["data"]["start"] == "2026-03-10T19:00:00+00:00"
    assert payload["data"]["previous_start"] == "2026-03-10T14:00:00+00:00"
    assert "has moved to Tue 10 Mar at 15:00" in heard.texts(CALLER)[0]


def test_a_caller_cancelling_a_booking_by_phone_reaches_the_owner_the_staff_the_webhook_and_themselves(
        followups, api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    cancelled = tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "reason": "I'm ill"})

    assert cancelled.status_code == 200, cancelled.text
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.cancelled"}
    [mail] = heard.emails()
    assert mail.subject == "Cancelled: Colour Tue 10 Mar at 10:00 (Ann Smith)"
    [payload] = heard.webhooks("booking.cancelled")
    assert payload["data"]["booking_id"] == booking_id and payload["data"]["by_caller"] is True
    assert payload["data"]["status"] == Booking.Status.CANCELLED
    assert "as you asked, your Colour on Tue 10 Mar at 10:00 is cancelled" in heard.texts(CALLER)[0]
