"""Celery task of the notifications app: sending one message (`notifications.delivery`). The daily
digests and the sweep that queues again follow-ups whose task was lost are the back office's
(backoffice/tasks.py): they queue this task, so they cannot live beside it without a circle."""
from __future__ import annotations

import logging

from django.conf import settings
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context

from core.celery_app import app
from notifications import delivery

logger = logging.getLogger("notifications")


@app.task(bind=True, name="notifications.notification_send", acks_late=True, max_retries=None)
def notification_send(self, notification_id: int) -> str:
    """Contract: send one pending notification (email or staff SMS). Transient failures are retried
    NOTIFICATION_MAX_RETRIES times with exponential backoff (NOTIFICATION_RETRY_BACKOFF_MS * 2**n),
    then the row is `failed`. A row already sent, or being sent by another task, is left alone."""
    last = self.request.retries >= settings.NOTIFICATION_MAX_RETRIES
    try:
        notification = delivery.notification_deliver(notification_id=notification_id, last_attempt=last)
    except delivery.NotificationTransientError as exc:
        countdown = settings.NOTIFICATION_RETRY_BACKOFF_MS * 2 ** self.request.retries / 1000
        raise self.retry(exc=exc, countdown=countdown) from exc
    return notification.status if notification else "skipped"


def each_tenant(function) -> dict[str, int]:
    done: dict[str, int] = {}
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        try:
            with tenant_context(tenant):
                count = function()
        except Exception:
            logger.exception("%s failed in %s", function.__name__, tenant.schema_name)
            continue
        if count:
            done[tenant.schema_name] = count
    return done
