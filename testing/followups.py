"""Everything that follows a domain action, as the people it reaches see it: the owner's email (a
real SMTP server on loopback), staff and customer texts (the SignalWire fake), and signed webhook
deliveries to the tenant's endpoint (a local receiver, verified with the `standardwebhooks`
reference verifier). A test per action asserts the whole set, so a forgotten follow-up fails.

    def test_it_...(followups, ...):
        ...set up what the action needs (nothing of it is heard)...
        heard = followups.listen("salon", customer=CALLER)
        ...the action, through the tool or the admin...
        assert heard.settled() == {"customer text", "owner email", "staff text", "webhook booking.cancelled"}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django_tenants.utils import schema_context

from core import after_response
from notifications.tests.fakes import ReceivedMail, WebhookReceiver
from notifications.tests.helpers import wait_until

STAFF_MOBILE = "+15557770009"  # not the notifications tests' number: the SignalWire fake is shared


def _pending(schema: str) -> int:
    from messaging.models import SmsMessage
    from notifications.models import Notification
    from webhooks.models import WebhookDelivery

    with schema_context(schema):
        return (Notification.objects.filter(status=Notification.Status.PENDING).count()
                + WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()
                + SmsMessage.objects.filter(status=SmsMessage.Status.QUEUED).count())


@dataclass
class Heard:
    """What one action was followed by, from the moment `listen` was called."""

    schema: str
    owner: str
    customer: str
    smtp_server: object
    signalwire: object
    receiver: WebhookReceiver
    secret: str
    texts_before: int
    restore: list = field(default_factory=list)

    def emails(self) -> list[ReceivedMail]:
        return self.smtp_server.to(self.owner)

    def texts(self, to: str) -> list[str]:
        return [request.form["Body"] for request in self.signalwire.requests[self.texts_before:]
                if request.form.get("To") == to]

    def webhooks(self, event_type: str) -> list[dict]:
        """The verified payloads of `event_type` the endpoint received (a bad signature raises)."""
        from standardwebhooks.webhooks import Webhook

        return [Webhook(self.secret).verify(request.body, request.headers) for request in self.receiver.of_type(event_type)]

    def heard(self) -> set[str]:
        heard = set()
        if self.emails():
            heard.add("owner email")
        if self.texts(STAFF_MOBILE):
            heard.add("staff text")
        if self.customer and self.texts(self.customer):
            heard.add("customer text")
        heard |= {f"webhook {request.payload.get('type')}" for request in list(self.receiver.requests)}
        return heard

    def settled(self, *, timeout: float = 20) -> set[str]:
        """Everything heard once every follow-up the action recorded has been sent. A test server in
        this process (`api_server`) may still be running them after its answer went out
        (core/after_response.py): they are recorded once it is idle."""
        wait_until(lambda: after_response.idle(timeout=0.5) and _pending(self.schema) == 0, timeout=timeout,
                   what="every follow-up to be sent")
        # A row is marked sent a moment after its message arrives, never before: all is heard now.
        return self.heard()


@pytest.fixture
def followups(committed_db, celery_worker_process, smtp_server, signalwire_fake, settings):
    """`followups.listen(schema, customer=...)` -> `Heard`: the business's owner (a fresh mailbox),
    a staff mobile, a webhook endpoint and customer texts are set up from that moment on."""
    from notifications.models import every_event
    from notifications.services import notification_settings_update
    from tenants.agent.models import AgentSettings
    from webhooks.models import WebhookEndpoint

    for name, value in signalwire_fake.settings().items():
        setattr(settings, name, value)
    receiver = WebhookReceiver()
    listening: list[Heard] = []

    class Listener:
        def listen(self, schema: str, *, customer: str = "") -> Heard:
            import uuid

            owner = f"owner-{uuid.uuid4().hex[:8]}@{schema}.example"
            # What the setup itself set off (a booking's confirmation) is sent before listening starts.
            wait_until(lambda: after_response.idle(timeout=0.5) and _pending(schema) == 0,
                       what="the setup's follow-ups to be sent")
            with schema_context(schema):
                notification_settings_update(emails=[owner], sms_numbers=[STAFF_MOBILE], events=every_event())
                endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=[])
                texts_were = AgentSettings.objects.values_list("sms_confirmations", flat=True).first()
                AgentSettings.objects.update(sms_confirmations=True)
            heard = Heard(schema=schema, owner=owner, customer=customer, smtp_server=smtp_server,
                          signalwire=signalwire_fake, receiver=receiver, secret=endpoint.secret,
                          texts_before=len(signalwire_fake.requests), restore=[texts_were])
            listening.append(heard)
            return heard

    yield Listener()
    receiver.stop()
    for heard in listening:
        with schema_context(heard.schema):
            AgentSettings.objects.update(sms_confirmations=bool(heard.restore[0]))
