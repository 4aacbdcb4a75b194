"""Webhook delivery end to end: a real Celery worker POSTs to a local receiver; signatures are
checked with the `standardwebhooks` reference verifier, as a receiver would."""
from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from notifications import events
from notifications.tests.fakes import WebhookReceiver
from notifications.tests.helpers import wait_until
from webhooks.models import WebhookDelivery, WebhookEndpoint


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.stop()


def endpoint_for(receiver, schema: str = "salon", events: list[str] | None = None) -> WebhookEndpoint:
    with schema_context(schema):
        return WebhookEndpoint.objects.create(url=receiver.url, events=events or [])


def deliveries(schema: str = "salon", **filters) -> list[WebhookDelivery]:
    with schema_context(schema):
        return list(WebhookDelivery.objects.filter(**filters).order_by("pk"))


def a_booking(schema: str = "salon"):
    from bookings.models import Booking, Service
    from core import clock

    with schema_context(schema):
        service = Service.objects.filter(active=True).first()
        start = (clock.now() + dt.timedelta(days=2)).replace(microsecond=0)
        return Booking.objects.create(service=service, start=start, end=start + dt.timedelta(minutes=30),
                                      blocked_until=start + dt.timedelta(minutes=30), customer_name="Jane Doe",
                                      customer_phone="+15557654321")


def test_it_posts_a_signed_booking_created_the_receiver_can_verify(committed_db, celery_worker_process, receiver):
    endpoint = endpoint_for(receiver)
    booking = a_booking()
    with schema_context("salon"):
        events.booking_created(booking=booking)

    [request] = wait_until(lambda: receiver.requests, what="the webhook")
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "booking.created"
    assert payload["data"]["booking_id"] == booking.pk and payload["data"]["customer_name"] == "Jane Doe"
    assert payload["timestamp"].endswith("Z")
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-signature"].startswith("v1,")
    [delivery] = wait_until(lambda: deliveries(status="delivered"), what="the delivery to be marked delivered")
    assert delivery.attempts == 1 and delivery.last_status_code == 200 and delivery.message_id == request.headers["webhook-id"]


def test_a_wrong_secret_does_not_verify(committed_db, celery_worker_process, receiver):
    from standardwebhooks.webhooks import WebhookVerificationError

    from webhooks.models import webhook_secret_new

    endpoint_for(receiver)
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    [request] = wait_until(lambda: receiver.requests, what="the webhook")
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret_new()).verify(request.body, request.headers)


def test_it_retries_a_failing_receiver_with_the_same_webhook_id(committed_db, celery_worker_process, receiver):
    endpoint_for(receiver)
    receiver.status = 503
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    wait_until(lambda: len(receiver.requests) >= 2, what="a retry")
    receiver.status = 200
    [delivery] = wait_until(lambda: deliveries(status="delivered"), what="the delivery")
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert ids == {delivery.message_id}
    assert delivery.attempts == len(receiver.requests) >= 3


def test_it_gives_up_after_the_schedule_and_the_admin_can_send_it_again(committed_db, celery_worker_process, receiver):
    from webhooks.services import webhook_resend

    endpoint_for(receiver)
    receiver.status = 500
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    # The worker's WEBHOOK_RETRY_SCHEDULE has three retries: four attempts, then failed.
    [delivery] = wait_until(lambda: deliveries(status="failed"), what="the delivery to fail")
    assert delivery.attempts == 4 and delivery.last_status_code == 500
    assert "HTTP 500" in delivery.last_error

    receiver.status = 200
    with schema_context("salon"):
        webhook_resend(delivery=delivery)
    wait_until(lambda: deliveries(status="delivered"), what="the resent delivery")
    assert {request.headers["webhook-id"] for request in receiver.requests} == {delivery.message_id}


def test_it_does_not_follow_a_redirect(committed_db, celery_worker_process, receiver):
    endpoint_for(receiver)
    receiver.status = 302
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    [delivery] = wait_until(lambda: deliveries(status="failed"), what="the delivery to fail")
    assert delivery.last_status_code == 302
    assert all(request.answered == 302 for request in receiver.requests)  # nothing reached the Location


def test_it_delivers_once_the_receiver_comes_back(committed_db, celery_worker_process, receiver, settings):
    endpoint_for(receiver)
    receiver.down()
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    wait_until(lambda: deliveries()[0].attempts >= 2 if deliveries() else False, what="attempts while it is down")
    receiver.up()
    [delivery] = wait_until(lambda: deliveries(status="delivered"), what="the delivery")
    assert len(receiver.requests) == 1 and delivery.last_error == ""


def test_an_endpoint_only_gets_the_event_types_it_chose(committed_db, celery_worker_process, receiver):
    endpoint_for(receiver, events=["order.created"])
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    assert deliveries() == []


def test_each_tenant_hears_only_its_own_events(committed_db, celery_worker_process, receiver):
    endpoint_for(receiver, schema="pizzeria")
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    assert deliveries("pizzeria") == [] and deliveries("salon") == []


def test_an_order_taken_on_the_phone_reaches_the_webhook(committed_db, api_server, celery_worker_process, receiver,
                                                         monkeypatch):
    from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING, an_order
    from voiceapi.tests.voice_api import a_call, tenant_named, tool

    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    endpoint_for(receiver, schema="pizzeria")
    call, token = a_call(tenant_named("pizzeria"))
    assert tool(api_server, token, "create_order", an_order()).status_code == 200

    [request] = wait_until(lambda: receiver.of_type("order.created"), what="order.created")
    data = request.payload["data"]
    assert data["total"] == "21.80" and data["currency"] == "EUR" and data["call_id"] == str(call.pk)
    assert [(line["name"], line["quantity"]) for line in data["lines"]] == [("Margherita", 2), ("Coca-Cola", 1)]


def test_a_callback_queued_on_the_phone_reaches_the_webhook(committed_db, api_server, celery_worker_process, receiver):
    from voiceapi.tests.voice_api import started_call, tool

    endpoint_for(receiver)
    call = started_call(api_server)
    tool(api_server, call["call_token"], "transfer_to_human", {"reason": "Complaint about a colour", "transfer_failed": True})
    [request] = wait_until(lambda: receiver.of_type("callback.created"), what="callback.created")
    data = request.payload["data"]
    assert data["reason"] == "Complaint about a colour" and data["transfer_failed"] is True
    assert data["caller_number"] == "+15557654321" and data["call_id"] == call["call_id"]


# --- issue 29, item 2: a poison answer is stored clean and the delivery is final ----------------

@pytest.mark.parametrize(("body", "headers"), [
    (b"ok\x00\x00accepted\x1b[31m", {}),
    (__import__("gzip").compress(b"\x00\x00\x00"), {"Content-Encoding": "gzip"}),
    (b"\xff\xfe\x00b\x00a\x00d", {"Content-Type": "text/plain; charset=utf-16"}),
])
def test_a_poison_answer_is_stored_clean_and_the_delivery_is_not_sent_again(committed_db, celery_worker_process, receiver,
                                                                             body, headers):
    receiver.body, receiver.answer_headers = body, headers
    endpoint_for(receiver)
    with schema_context("salon"):
        events.booking_created(booking=a_booking())
    [delivery] = wait_until(lambda: deliveries(status="delivered"), what="the delivery to be marked delivered")
    assert "\x00" not in delivery.last_response and "\x1b" not in delivery.last_response
    assert delivery.attempts == 1 and len(receiver.requests) == 1
