"""SMS confirmations: queued for bookings and orders, sent through (a local stand-in for)
SignalWire's Messages API, retried when SignalWire has a bad moment, and logged either way.

Most tests run the `calls.sms_send` task in this process (`apply`: eager, retries inline); the last
ones run it in a real Celery worker process through Redis, as production does."""
from __future__ import annotations

import contextlib
import datetime as dt
import socket
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from bookings.models import Booking, Service
from bookings.sms import booking_confirmation_queue
from calls.models import Call
from core.celery_app import app as celery_app
from core.errors import DomainError
from messaging import signalwire as signalwire_client
from messaging.models import SmsMessage
from messaging.tasks import sms_send
from orders.sms import order_confirmation_queue
from orders.status import order_status_change
from orders.voice import create_order
from tenants.agent.models import AgentSettings
from testing.demo_tenants import BERLIN

PIZZERIA_OPEN = dt.datetime(2026, 3, 10, 18, 0, tzinfo=BERLIN)  # a Tuesday evening


@pytest.fixture
def signalwire(signalwire_fake, settings):
    """SignalWire configured and pointed at the fake; its script and log are fresh for each test."""
    signalwire_fake.reset()
    for name, value in signalwire_fake.settings().items():
        setattr(settings, name, value)
    settings.SMS_SEND_MAX_RETRIES = 3
    yield signalwire_fake
    signalwire_fake.reset()


@pytest.fixture
def enqueued(monkeypatch):
    """The ids handed to `sms_send.delay`, instead of the broker (these tests run the task themselves)."""
    ids: list[int] = []
    monkeypatch.setattr(sms_send, "delay", lambda sms_id: ids.append(sms_id))
    return ids


def make_booking(*, start: dt.datetime, call: Call | None = None) -> Booking:
    service = Service.objects.get(name="Haircut")
    end = start + dt.timedelta(minutes=service.duration_minutes)
    return Booking.objects.create(service=service, start=start, end=end, blocked_until=end + dt.timedelta(minutes=service.buffer_minutes),
                                  customer_name="Maya", customer_phone="+15550107777", call=call)


def make_call(number: str) -> Call:
    return Call.objects.create(called_number=number, caller_number="+15550107777", started_at=timezone.now())


def queue(django_capture_on_commit_callbacks, **subject) -> SmsMessage | None:
    with django_capture_on_commit_callbacks(execute=True):
        if "booking" in subject:
            return booking_confirmation_queue(**subject)
        return order_confirmation_queue(**subject)


def test_it_texts_a_booking_confirmation_in_the_salons_local_time(salon, signalwire, enqueued, django_capture_on_commit_callbacks):
    with tenant_context(salon):
        call = make_call("+15550100001")
        # 14:30 in New York on 10 March 2026 (EDT, UTC-4: the clocks changed on the 8th).
        booking = make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC), call=call)
        sms = queue(django_capture_on_commit_callbacks, booking=booking)
        assert sms.status == SmsMessage.Status.QUEUED and enqueued == [sms.pk]

        assert sms_send.apply(args=[sms.pk]).get() == "sent"

        sms.refresh_from_db()
        assert sms.status == SmsMessage.Status.SENT
        assert (sms.booking, sms.call, sms.attempts) == (booking, call, 1)
        assert sms.body == "Bella Hair Studio: your Haircut is booked for Tue 10 Mar at 14:30. See you then!"
    [request] = signalwire.requests
    assert request.auth == (signalwire.project_id, signalwire.api_token)
    assert request.path == f"/api/laml/2010-04-01/Accounts/{signalwire.project_id}/Messages.json"
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    assert request.form == {"From": "+15550100001", "To": "+15550107777", "Body": sms.body}
    assert sms.provider_id == request.sid and sms.error == ""


def test_it_texts_an_order_confirmation_with_the_total_and_ready_time(pizzeria, signalwire, enqueued,
                                                                      django_capture_on_commit_callbacks):
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=True)
        call = make_call("+15550100002")
        with django_capture_on_commit_callbacks(execute=True):
            outcome = create_order(items=[{"name": "two margheritas", "quantity": 2}, {"name": "coke", "quantity": 1}],
                                   customer_name="Anna", customer_phone="555 010 7777", call=call, now=PIZZERIA_OPEN)
        sms = SmsMessage.objects.get()
        assert enqueued == [sms.pk]
        sms_send.apply(args=[sms.pk])
        sms.refresh_from_db()
    order_id = outcome.result["order_id"]
    assert sms.status == SmsMessage.Status.SENT
    assert (sms.order_id, sms.call_id, sms.to_number, sms.from_number) == (order_id, call.pk, "+15550107777", "+15550100002")
    assert sms.body == (f"Luigi's Pizzeria: order #{order_id} received - 2 x Margherita, 1 x Coca-Cola. "
                        "Total 21.80 EUR. Ready for pickup about 18:20.")
    assert signalwire.sent()[0].form["Body"] == sms.body


def place_order(*, fulfillment: str = "pickup") -> int:
    outcome = create_order(items=[{"name": "Diavola", "quantity": 1}], customer_name="Anna", customer_phone="555 010 7777",
                           fulfillment=fulfillment, delivery_address="Hauptstr. 1" if fulfillment == "delivery" else "",
                           now=PIZZERIA_OPEN)
    return outcome.result["order_id"]


def move_order(django_capture_on_commit_callbacks, order_id: int, *statuses: str) -> None:
    for status in statuses:
        with django_capture_on_commit_callbacks(execute=True):
            order_status_change(order_id=order_id, status=status)


def test_it_texts_the_customer_once_when_the_order_is_ready(pizzeria, signalwire, enqueued, django_capture_on_commit_callbacks):
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=True)
        order_id = place_order()
        move_order(django_capture_on_commit_callbacks, order_id, "preparing")
        assert SmsMessage.objects.filter(kind=SmsMessage.Kind.ORDER_READY).count() == 0

        move_order(django_capture_on_commit_callbacks, order_id, "ready")
        ready = SmsMessage.objects.get(kind=SmsMessage.Kind.ORDER_READY)
        assert sms_send.apply(args=[ready.pk]).get() == "sent"
        # Ready a second time is refused by the kitchen's flow; done sends nothing more.
        with pytest.raises(DomainError):
            order_status_change(order_id=order_id, status="ready")
        move_order(django_capture_on_commit_callbacks, order_id, "done")
        ready.refresh_from_db()
        assert SmsMessage.objects.filter(kind=SmsMessage.Kind.ORDER_READY).count() == 1
    assert (ready.order_id, ready.to_number, ready.from_number, ready.status) == (
        order_id, "+15550107777", "+15550100002", SmsMessage.Status.SENT)
    assert ready.body == f"Luigi's Pizzeria: your order #{order_id} is ready for pickup. See you soon!"
    assert [request.form["Body"] for request in signalwire.sent()] == [ready.body]


def test_a_delivery_order_is_announced_as_on_its_way(pizzeria, signalwire, enqueued, django_capture_on_commit_callbacks):
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=True)
        order_id = place_order(fulfillment="delivery")
        move_order(django_capture_on_commit_callbacks, order_id, "preparing", "ready")
        ready = SmsMessage.objects.get(kind=SmsMessage.Kind.ORDER_READY)
    assert ready.body == f"Luigi's Pizzeria: your order #{order_id} is ready and will be with you shortly."


def test_no_ready_text_when_sms_is_off_or_the_order_is_cancelled(pizzeria, signalwire, enqueued, django_capture_on_commit_callbacks):
    with tenant_context(pizzeria):
        assert not AgentSettings.objects.get().sms_confirmations  # the demo pizzeria's choice
        quiet = place_order()
        move_order(django_capture_on_commit_callbacks, quiet, "preparing", "ready")
        AgentSettings.objects.update(sms_confirmations=True)
        with django_capture_on_commit_callbacks(execute=True):
            cancelled = place_order()
        move_order(django_capture_on_commit_callbacks, cancelled, "preparing", "cancelled")
        assert not SmsMessage.objects.filter(kind=SmsMessage.Kind.ORDER_READY).exists()
        # Only the second order's confirmation went out, once SMS was on.
        assert [SmsMessage.objects.get(pk=sms_id).kind for sms_id in enqueued] == [SmsMessage.Kind.CONFIRMATION]


def test_it_marks_a_refused_message_failed_with_signalwires_reason_and_does_not_retry(salon, signalwire, enqueued,
                                                                                     django_capture_on_commit_callbacks):
    signalwire.answer_next(400)
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        assert sms_send.apply(args=[sms.pk]).get() == "failed"
        sms.refresh_from_db()
    assert sms.status == SmsMessage.Status.FAILED
    assert sms.error == "21211: The 'To' number is not a valid phone number."
    assert sms.provider_id == "" and sms.attempts == 1
    assert [request.status for request in signalwire.requests] == [400]


@pytest.mark.parametrize("answers", [(503,), (500, 429), (503, 500, 503)])
def test_it_retries_when_signalwire_has_a_bad_moment(salon, signalwire, enqueued, django_capture_on_commit_callbacks, answers):
    signalwire.answer_next(*answers)
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        assert sms_send.apply(args=[sms.pk]).get() == "sent"
        sms.refresh_from_db()
    assert [request.status for request in signalwire.requests] == [*answers, 201]
    assert (sms.status, sms.attempts, sms.error) == (SmsMessage.Status.SENT, len(answers) + 1, "")
    assert sms.provider_id == signalwire.requests[-1].sid


def test_it_gives_up_after_the_last_retry(salon, signalwire, enqueued, django_capture_on_commit_callbacks):
    signalwire.answer_next(*[503] * 10)
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        assert sms_send.apply(args=[sms.pk]).get() == "failed"
        sms.refresh_from_db()
    assert len(signalwire.requests) == 4  # the first try and SMS_SEND_MAX_RETRIES = 3 retries
    assert sms.status == SmsMessage.Status.FAILED
    assert sms.error == "Gave up after 4 attempts. Attempt 4: SignalWire answered 503: 20503: Service Unavailable"


def test_it_retries_when_signalwire_cannot_be_reached(salon, signalwire, enqueued, django_capture_on_commit_callbacks, settings):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.SIGNALWIRE_SPACE_URL = f"http://127.0.0.1:{port}"  # nothing listens here now
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        assert sms_send.apply(args=[sms.pk]).get() == "failed"
        sms.refresh_from_db()
    assert sms.attempts == 4
    assert sms.error.startswith("Gave up after 4 attempts. Attempt 4: could not reach SignalWire: ConnectionError")


def test_it_does_not_text_twice_when_the_task_is_delivered_twice(salon, signalwire, enqueued, django_capture_on_commit_callbacks):
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        sms_send.apply(args=[sms.pk])
        assert sms_send.apply(args=[sms.pk]).get() == "sent"
    assert len(signalwire.requests) == 1


def test_it_logs_the_message_as_skipped_when_signalwire_is_not_configured(salon, settings, enqueued,
                                                                         django_capture_on_commit_callbacks):
    settings.SIGNALWIRE_SPACE_URL = "example.signalwire.com"
    settings.SIGNALWIRE_PROJECT_ID = ""
    settings.SIGNALWIRE_API_TOKEN = ""
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
    assert sms.status == SmsMessage.Status.SKIPPED
    assert sms.error == "SignalWire is not configured (SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN not set)."
    assert sms.body.startswith("Bella Hair Studio: your Haircut is booked")
    assert enqueued == []


def test_it_sends_nothing_when_the_business_has_sms_confirmations_off(pizzeria, signalwire, enqueued,
                                                                      django_capture_on_commit_callbacks):
    with tenant_context(pizzeria):
        assert not AgentSettings.objects.get().sms_confirmations  # the demo pizzeria's choice
        with django_capture_on_commit_callbacks(execute=True):
            create_order(items=[{"name": "Diavola", "quantity": 1}], customer_name="Anna", customer_phone="+15550107777",
                         now=PIZZERIA_OPEN)
        assert not SmsMessage.objects.exists()
    assert enqueued == [] and signalwire.requests == []


@contextlib.contextmanager
def broker_down():
    """This process's Celery app pointed at a port where nothing listens (Redis is down)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    original = celery_app.conf.broker_url

    def switch(url: str) -> None:
        # Kombu keeps a connection pool per broker URL; dropping the app's references makes it
        # look the pool up again for the new URL.
        celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    switch(f"redis://127.0.0.1:{port}/0")
    try:
        yield
    finally:
        switch(original)


def test_it_keeps_the_message_queued_with_the_error_when_the_broker_is_down(salon, signalwire,
                                                                           django_capture_on_commit_callbacks):
    with tenant_context(salon), broker_down():
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        sms.refresh_from_db()
    assert sms.status == SmsMessage.Status.QUEUED
    assert sms.error.startswith("Could not hand the message to the task queue: OperationalError: ")
    assert "Connection refused" in sms.error


def test_it_waits_for_the_commit_before_handing_the_message_to_the_worker(salon, signalwire, enqueued,
                                                                          django_capture_on_commit_callbacks):
    with tenant_context(salon), django_capture_on_commit_callbacks(execute=False) as callbacks:
        sms = booking_confirmation_queue(booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
    assert sms.status == SmsMessage.Status.QUEUED
    assert enqueued == [] and len(callbacks) == 1


@pytest.mark.parametrize(("space", "base"), [
    ("example.signalwire.com", "https://example.signalwire.com"),
    ("https://example.signalwire.com/", "https://example.signalwire.com"),
    ("  example.signalwire.com/  ", "https://example.signalwire.com"),
    ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
])
def test_it_accepts_the_space_url_with_or_without_a_scheme(settings, space, base):
    settings.SIGNALWIRE_SPACE_URL = space
    settings.SIGNALWIRE_PROJECT_ID = "p-1"
    assert signalwire_client.signalwire_messages_url() == f"{base}/api/laml/2010-04-01/Accounts/p-1/Messages.json"


# --- through a real Celery worker process ----------------------------------------------------------

def wait_until(predicate, *, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {what}")


def next_sms_id(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f"{schema}.calls_smsmessage"])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last_value, is_called = cursor.fetchone()
    return last_value + 1 if is_called else last_value


@pytest.fixture
def pizzeria_texts(committed_db, signalwire):
    """The demo pizzeria with SMS confirmations on, for committed tests; switched back off after."""
    from tenants.models import Tenant

    pizzeria = Tenant.objects.get(schema_name="pizzeria")
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=True)
    try:
        yield pizzeria
    finally:
        with tenant_context(pizzeria):
            AgentSettings.objects.update(sms_confirmations=False)


def test_the_worker_sends_the_sms_in_the_schema_of_the_business(pizzeria_texts, signalwire, celery_worker_process):
    from tenants.models import Tenant

    # A decoy in the salon's schema with the id the pizzeria's message is about to get: a task that
    # ran in the wrong schema would send (and mark) this one instead.
    decoy_id = next_sms_id("pizzeria")
    with tenant_context(Tenant.objects.get(schema_name="salon")):
        SmsMessage.objects.create(pk=decoy_id, to_number="+15550109999", from_number="+15550100001", body="decoy")

    with tenant_context(pizzeria_texts):
        outcome = create_order(items=[{"name": "Quattro Formaggi", "quantity": 2}], customer_name="Anna",
                               customer_phone="+15550107777", fulfillment="delivery", delivery_address="Torstr. 1",
                               now=PIZZERIA_OPEN)
        sms = SmsMessage.objects.get(order_id=outcome.result["order_id"])
        assert sms.pk == decoy_id
        wait_until(lambda: SmsMessage.objects.filter(pk=sms.pk).exclude(status="queued").exists(), what="the SMS to be sent")
        sms.refresh_from_db()
    assert sms.status == SmsMessage.Status.SENT, sms.error
    [request] = signalwire.requests
    assert sms.provider_id == request.sid
    assert request.form == {
        "From": "+15550100002", "To": "+15550107777",
        "Body": f"Luigi's Pizzeria: order #{sms.order_id} received - 2 x Quattro Formaggi. Total 25.00 EUR. "
                "Delivery expected about 18:50.",
    }
    with tenant_context(Tenant.objects.get(schema_name="salon")):
        assert SmsMessage.objects.get(pk=decoy_id).status == SmsMessage.Status.QUEUED


def test_the_worker_retries_through_the_broker_in_the_same_schema(pizzeria_texts, signalwire, celery_worker_process):
    signalwire.answer_next(503)
    since = len(celery_worker_process.log())
    with tenant_context(pizzeria_texts):
        create_order(items=[{"name": "Tiramisu", "quantity": 1}], customer_name="Anna", customer_phone="+15550107777",
                     now=PIZZERIA_OPEN)
        sms = SmsMessage.objects.get()
        wait_until(lambda: SmsMessage.objects.filter(pk=sms.pk).exclude(status="queued").exists(), what="the SMS to be sent")
        sms.refresh_from_db()
    assert [request.status for request in signalwire.requests] == [503, 201]
    assert (sms.status, sms.attempts, sms.error) == (SmsMessage.Status.SENT, 2, "")
    assert "Retry in" in celery_worker_process.log()[since:]
    assert sms.body.endswith(f"Total {Decimal('5.50')} EUR. Ready for pickup about 18:20.")


# --- issue 29, item 2: poison never leaves a text queued or retried without end -----------------

@pytest.mark.parametrize(("answers", "final_attempts"), [((400,), 1), ((503,) * 10, 4)])
def test_a_poison_answer_from_signalwire_is_recorded_clean_and_final(salon, signalwire, enqueued,
                                                                     django_capture_on_commit_callbacks, answers,
                                                                     final_attempts):
    signalwire.answer_next(*answers)
    signalwire.error_message = "Number\x00 blocked\x1b[31m by carrier\u2028(see portal)"
    with tenant_context(salon):
        sms = queue(django_capture_on_commit_callbacks, booking=make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)))
        assert sms_send.apply(args=[sms.pk]).get() == "failed"
        sms.refresh_from_db()
    assert sms.status == SmsMessage.Status.FAILED and sms.attempts == final_attempts
    assert "Number blocked[31m by carrier(see portal)" in sms.error
    assert len(signalwire.requests) == final_attempts  # SMS_SEND_MAX_RETRIES (3) retries, then no more


def test_a_business_name_with_control_characters_is_texted_clean(salon, signalwire, enqueued,
                                                                 django_capture_on_commit_callbacks):
    with tenant_context(salon):
        booking = make_booking(start=dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC))
        AgentSettings.objects.update(business_name="Bella\x0bHair\x07")
        sms = queue(django_capture_on_commit_callbacks, booking=booking)
        assert sms_send.apply(args=[sms.pk]).get() == "sent"
    [request] = signalwire.requests
    assert request.form["Body"].startswith("BellaHair")
    assert not any(ord(char) < 32 and char != "\n" for char in request.form["Body"])
