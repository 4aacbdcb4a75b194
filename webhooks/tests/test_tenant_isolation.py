"""One tenant's slow webhook receivers must not stall the others (issue 29, item 1), proven with the
real Celery worker (two processes, WEBHOOK_TENANT_CONCURRENCY=1, WEBHOOK_TIMEOUT_SECONDS=2) and
receivers on loopback that answer one byte at a time. No timing thresholds: the tests assert the
order things happen in (the other tenant's follow-ups finish while the slow ones still drip); the
measured delay is bench/webhook_isolation.py's, in docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django_tenants.utils import schema_context, tenant_context

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from calls.models import Call
from calls.tests.test_call_log_ingestion import a_log, post_log, start_call
from messaging.models import SmsMessage
from notifications import events
from notifications.tests.fakes import DripReceiver, WebhookReceiver
from notifications.tests.helpers import wait_until
from tenants.agent.models import AgentSettings
from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING, an_order
from voiceapi.tests.voice_api import a_call, tenant_named, tool
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tests.test_webhook_delivery import a_booking, deliveries


@pytest.fixture
def drips():
    receivers = [DripReceiver() for _ in range(4)]
    yield receivers
    for receiver in receivers:
        receiver.stop()


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def pizzeria_texts(committed_db, signalwire_fake, settings):
    signalwire_fake.reset()
    for name, value in signalwire_fake.settings().items():
        setattr(settings, name, value)
    pizzeria = tenant_named("pizzeria")
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=True)
    yield pizzeria
    with tenant_context(pizzeria):
        AgentSettings.objects.update(sms_confirmations=False)


def slow_deliveries_pending() -> int:
    return len(deliveries("salon", status="pending"))


def test_four_drip_receivers_on_one_tenant_do_not_delay_another_tenants_log_sms_and_webhook(
        committed_db, api_server, celery_worker_process, pizzeria_texts, drips, receiver, monkeypatch):
    since = len(celery_worker_process.log())
    # Tenant A (the salon): four endpoints that answer a byte at a time.
    with schema_context("salon"):
        for drip in drips:
            WebhookEndpoint.objects.create(url=drip.url)
        events.booking_created(booking=a_booking())
    wait_until(lambda: any(drip.open_connections() for drip in drips), what="the salon's first slow attempt")

    # Tenant B (the pizzeria), meanwhile: an order on the phone (its SMS and its webhook) and a call log.
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    with schema_context("pizzeria"):
        WebhookEndpoint.objects.create(url=receiver.url)
    _call, token = a_call(tenant_named("pizzeria"))
    assert tool(api_server, token, "create_order", an_order()).status_code == 200
    log_call, log_token = start_call("pizzeria", started_at=FRIDAY_EVENING - dt.timedelta(minutes=3))
    assert post_log(api_server, log_call.pk, log_token, a_log(turns=4)).status_code == 202

    def pizzeria_done() -> bool:
        with schema_context("pizzeria"):
            stored = Call.objects.filter(pk=log_call.pk, log_stored_at__isnull=False).exists()
            texted = SmsMessage.objects.filter(status=SmsMessage.Status.SENT).exists()
            hooked = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED).exists()
        return stored and texted and hooked

    wait_until(pizzeria_done, timeout=30, what="the pizzeria's log, SMS and webhook")
    # ...all done while the salon's receivers still drip: its deliveries are still being attempted.
    assert slow_deliveries_pending() >= 1
    assert receiver.of_type("order.created")
    # The salon's share was full: its other deliveries went back to the queue rather than take the
    # worker's second process.
    assert "'deferred'" in celery_worker_process.log()[since:]
    assert deliveries("salon", status="delivered") == []


def test_an_attempt_ends_at_its_deadline_and_the_owner_can_send_again_meanwhile(committed_db, celery_worker_process,
                                                                                drips):
    drip = drips[0]
    with schema_context("salon"):
        WebhookEndpoint.objects.create(url=drip.url)
        events.booking_created(booking=a_booking())
    [first] = wait_until(lambda: drip.open_connections(), what="the slow attempt")
    [delivery] = deliveries("salon")

    # "Send again" from the admin while the POST is under way: no row lock makes it wait.
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    answered: list[float] = []

    def send_again() -> None:
        response = owner.post("/admin/webhooks/webhookdelivery/", {"action": "send_again", "_selected_action": [delivery.pk]})
        assert response.status_code == 302
        answered.append(time.time())

    clicking = threading.Thread(target=send_again, daemon=True)
    clicking.start()
    clicking.join(timeout=30)
    assert answered, "Send again waited for the slow receiver"
    assert first.closed is None or first.closed > answered[0]  # answered while the attempt was still under way

    # The attempt itself was cut off at WEBHOOK_TIMEOUT_SECONDS, though the receiver never stopped.
    wait_until(lambda: first.closed is not None, what="the attempt's deadline")
    assert not drip.stopping.is_set()
    wait_until(lambda: "did not answer within 2 seconds" in deliveries("salon")[0].last_error,
               what="the deadline to be recorded")
