"""SMS to customers: the one path every text takes (booking and order confirmations, "your order
is ready", "your booking is cancelled", the day-before reminder: their texts are written by bookings
and orders), and its delivery through
SignalWire's LaML-compatible REST API (the Twilio-shaped `Messages.json` endpoint).

Every message is a row in the SMS log (`SmsMessage`) before anything is sent, so the business sees
what was sent, what failed and why, and what was skipped because SMS is not configured. This module
records and queues; `messaging.signalwire` holds the settings and sends (what the task runs):

    sms_queue (called by bookings/sms.py and orders/sms.py with their own texts)
                            -> row `skipped` (no SignalWire settings / no number to send from)
                            -> row `queued`, then Celery task `calls.sms_send` -> messaging.signalwire.sms_deliver
                                 2xx          -> `sent` with SignalWire's sid
                                 4xx          -> `failed` with SignalWire's message (retrying cannot help)
                                 5xx/429/net  -> retried with backoff by the task; `failed` after the last
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection, transaction

from core.clean import text_clean
from core.trial_calls import from_test_call
from messaging.models import SmsMessage, SmsOptOut
from messaging.signalwire import sender_number, signalwire_missing_settings
from messaging.tasks import sms_send
from tenants.agent.selectors import agent_settings_get
from tenants.selectors import current_tenant

logger = logging.getLogger("messaging.sms")

# SignalWire refuses bodies over 1600 characters; ours are far shorter, but an order of 50 lines
# with long names must still go out rather than fail.
BODY_MAX = 1600


# --- queueing ------------------------------------------------------------------------------------

def sms_queue(*, kind: str, body: Callable[[str], str], booking=None, order=None) -> SmsMessage | None:
    """Record and queue one text to the customer of `booking` or `order` (exactly one), in the current
    tenant. `body(business name)` is the text: bookings and orders write their own (bookings/sms.py,
    orders/sms.py); `kind` is one of `SmsMessage.Kind`.

    Returns None, writing nothing, when the tenant has SMS texts off. Otherwise returns the
    `SmsMessage`: `skipped` (reason in `error`) when SignalWire is not configured or the tenant has
    no number to send from; else `queued`, with the `calls.sms_send` task sent once the row is
    committed. A broker that is down leaves the row `queued` with the error noted; nothing is raised,
    so a text can never fail the booking or order it is about.

    Call it from `transaction.on_commit` so no SMS goes out for a write that rolls back.
    """
    if (booking is None) == (order is None):
        raise TypeError("sms_queue() takes exactly one of booking= or order=.")
    subject = booking if booking is not None else order
    if from_test_call(subject):
        # An owner trying their agent must not text whatever number they (or a scenario) gave.
        return None
    agent_settings = agent_settings_get()
    if not agent_settings.sms_confirmations:
        return None
    business = agent_settings.business_name or current_tenant().name
    # Cleaned where it enters: a customer's or a business's name may carry anything a caller said.
    sms = SmsMessage(kind=kind, to_number=subject.customer_phone, from_number=sender_number(),
                     body=text_clean(body(business), max_length=BODY_MAX),
                     booking=booking, order=order, call_id=subject.call_id)
    return _sms_record(sms=sms)


def sms_staff_queue(*, kind: str, to_number: str, body: str, call) -> SmsMessage | None:
    """Record and queue one text to the business's own staff about `call` (the staff phone a call is
    being transferred to), through the same log, skips and task as a customer's text. The business
    turned it on with its own setting, so `sms_confirmations` (texts to customers) does not gate it.
    Call it from `transaction.on_commit`."""
    if from_test_call(call):
        return None
    sms = SmsMessage(kind=kind, to_number=to_number, from_number=sender_number(),
                     body=text_clean(body, max_length=BODY_MAX), call=call)
    return _sms_record(sms=sms)


def _sms_record(*, sms: SmsMessage) -> SmsMessage:
    missing = signalwire_missing_settings()
    if SmsOptOut.objects.filter(number=sms.to_number, opted_out=True).exists():
        # The recipient texted STOP: sending anyway breaks carrier rules (and their trust). Logged
        # as skipped, with why, like every text not sent.
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = "The customer texted STOP to this number: no texts until they text START."
        logger.info("SMS to %s not sent: opted out", sms.to_number)
    elif missing:
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = f"SignalWire is not configured ({', '.join(missing)} not set)."
    elif not sms.from_number:
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = "The business has no phone number to send from."
    else:
        sms.status = SmsMessage.Status.QUEUED
    sms.save()
    if sms.status == SmsMessage.Status.QUEUED:
        # After commit: a worker that picks the task up at once must find the row. Outside a
        # transaction this runs immediately.
        transaction.on_commit(lambda: _sms_enqueue(sms=sms))
    return sms


def _sms_enqueue(*, sms: SmsMessage) -> None:
    try:
        sms_send.delay(sms.pk)
    except Exception as exc:  # the broker is down or unreachable; the row says so and stays queued
        logger.warning("SMS %s (schema %s) could not be queued: %s", sms.pk, connection.schema_name, exc)
        sms.error = f"Could not hand the message to the task queue: {exc.__class__.__name__}: {exc}"[:1000]
        SmsMessage.objects.filter(pk=sms.pk).update(error=sms.error)
