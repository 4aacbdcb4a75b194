"""Everything that follows a booking being made, moved or cancelled, heard where people hear it: the
customer's text, the owner's email and the staff text, and the signed webhook to the business's
endpoint. Each action goes through the door its user uses (a voice tool with a call token, or the
admin), and each test names the whole set, so a follow-up that goes missing fails one."""
import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from bookings.models import Booking
from bookings.voice import create_booking
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

# Monday 9 March 2026, 10:00 in New York; the salon opens Tuesday 09:00-12:30, 13:30-18:00.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def salon_now(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def booked(*, service: str = "Colour", start: str = "2026-03-10T10:00") -> int:
    with tenant_context(tenant_named("salon")):
        return create_booking(service_name=service, start=start, customer_name="Ann Smith", customer_phone=CALLER,
                              now=MONDAY_MORNING).result["booking_id"]


def test_a_caller_moving_a_booking_by_phone_reaches_the_owner_the_staff_the_webhook_and_themselves(
        followups, api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    moved = tool(api_server, token, "reschedule_booking", {"booking_id": booking_id, "start": "2026-03-10T15:00",
                                                                "customer_name": "Ann Smith"})

    assert moved.status_code == 200, moved.text
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.rescheduled"}
    [mail] = heard.emails()
    assert mail.subject == "Moved: Colour to Tue 10 Mar at 3:00 PM (Ann Smith)"
    assert "from Tue 10 Mar at 10:00 AM to Tue 10 Mar at 3:00 PM by phone" in mail.body
    [payload] = heard.webhooks("booking.rescheduled")
    assert payload["data"]["booking_id"] == booking_id and payload["data"]["by_caller"] is True
    assert payload["data"]["start"] == "2026-03-10T19:00:00+00:00"
    assert payload["data"]["previous_start"] == "2026-03-10T14:00:00+00:00"
    assert "has moved to Tue 10 Mar at 3:00 PM" in heard.texts(CALLER)[0]


def test_a_caller_cancelling_a_booking_by_phone_reaches_the_owner_the_staff_the_webhook_and_themselves(
        followups, api_server, salon_now):
    booking_id = booked()
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    cancelled = tool(api_server, token, "cancel_booking", {"booking_id": booking_id, "reason": "I'm ill",
                                                            "customer_name": "Ann Smith"})

    assert cancelled.status_code == 200, cancelled.text
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.cancelled"}
    [mail] = heard.emails()
    assert mail.subject == "Cancelled: Colour Tue 10 Mar at 10:00 AM (Ann Smith)"
    [payload] = heard.webhooks("booking.cancelled")
    assert payload["data"]["booking_id"] == booking_id and payload["data"]["by_caller"] is True
    assert payload["data"]["status"] == Booking.Status.CANCELLED
    assert "as you asked, your Colour on Tue 10 Mar at 10:00 AM is cancelled" in heard.texts(CALLER)[0]


def test_a_booking_made_on_the_phone_texts_the_caller_and_reaches_the_webhook(followups, api_server, salon_now):
    call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    made = tool(api_server, token, "create_booking", {"confirmed": True, "service": "colour", "start": "2026-03-10T10:00",
                                                      "customer_name": "Ann Smith", "customer_phone": CALLER})

    assert made.status_code == 200, made.text
    # A booking the agent took is news to the owner and the staff (a new-booking alert).
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.created"}
    [payload] = heard.webhooks("booking.created")
    assert payload["data"]["booking_id"] == made.json()["result"]["booking_id"]
    assert payload["data"]["call_id"] == str(call.pk)
    assert "your Colour is booked for Tue 10 Mar at 10:00 AM" in heard.texts(CALLER)[0]


def test_a_booking_taken_in_the_admin_texts_the_customer_and_reaches_the_webhook(followups, salon_now):
    from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
    from bookings.models import Service

    with tenant_context(tenant_named("salon")):
        haircut = Service.objects.get(name="Haircut")
    admin = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    heard = followups.listen("salon", customer="+12125550144")

    response = admin.post("/admin/bookings/booking/add/", {
        "service": haircut.pk, "date": "2026-03-10", "time": "10:00", "customer_name": "Walk In",
        "customer_phone": "(212) 555-0144", "notes": ""})

    assert response.status_code == 302
    assert heard.settled() == {"customer text", "webhook booking.created"}
    [payload] = heard.webhooks("booking.created")
    assert payload["data"]["customer_name"] == "Walk In" and payload["data"]["call_id"] is None


def test_the_business_cancelling_in_the_admin_texts_the_customer_and_reaches_the_webhook_not_the_owner(
        followups, salon_now):
    from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client

    booking_id = booked()
    admin = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    heard = followups.listen("salon", customer=CALLER)

    response = admin.post("/admin/bookings/booking/?when=all", {"action": "cancel_bookings", "confirm": "yes",
                                                               "reason": "Stylist ill", "_selected_action": [booking_id]})

    assert response.status_code == 302
    assert heard.settled() == {"customer text", "webhook booking.cancelled"}
    [payload] = heard.webhooks("booking.cancelled")
    assert payload["data"]["booking_id"] == booking_id and payload["data"]["by_caller"] is False
    assert "sorry, your Colour on Tue 10 Mar at 10:00 AM has been cancelled" in heard.texts(CALLER)[0]
