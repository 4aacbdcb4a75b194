"""Celery task of messaging: sending one queued SMS. Thin: it calls `messaging.signalwire` and owns the retries.
Tenant-aware through tenant-schemas-celery: the task runs in the schema it was sent from."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection

from core.celery_app import app
from messaging import signalwire
from messaging.models import SmsMessage

sms_logger = logging.getLogger("messaging.sms")


@app.task(bind=True, name="calls.sms_send", acks_late=True, max_retries=None)
def sms_send(self, sms_id: int) -> str:
    """Send one queued SMS (`SmsMessage` id, in the schema the task was sent from) via SignalWire.

    Contract: transient failures (5xx, 429, timeouts, refused connections) are retried
    SMS_SEND_MAX_RETRIES times with exponential backoff (SMS_RETRY_BACKOFF_MS * 2**n, or the
    provider's Retry-After if longer); after the last the row becomes `failed`. A permanent
    refusal (4xx) is `failed` at once. Returns the row's final status ("queued" while retrying).
    Sending is guarded by the row's status, so a redelivered task does not text twice.
    """
    sms = SmsMessage.objects.filter(pk=sms_id).first()
    if sms is None:
        # The confirming write was rolled back, or the row was deleted: nothing to send.
        sms_logger.warning("SMS %s not found in schema %s", sms_id, connection.schema_name)
        return "missing"
    try:
        return signalwire.sms_deliver(sms=sms).status
    except signalwire.SmsTransientError as exc:
        if self.request.retries < settings.SMS_SEND_MAX_RETRIES:
            countdown = settings.SMS_RETRY_BACKOFF_MS * 2 ** self.request.retries / 1000
            countdown = max(countdown, exc.retry_after or 0)
            raise self.retry(exc=exc, countdown=countdown) from exc
        return signalwire.sms_delivery_give_up(sms=sms, error=str(exc)).status
