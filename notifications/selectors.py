"""Reads about follow-ups, for the operator: what failed for good in the current tenant's schema."""
from __future__ import annotations

import datetime as dt

from notifications.models import Notification
from webhooks.models import WebhookDelivery


def followups_failed_since(*, since: dt.datetime) -> int:
    """Owner emails, staff texts and webhook deliveries that failed for good since `since`. The owner
    sees each one in their admin; the operator sees this count per tenant."""
    return (Notification.objects.filter(status=Notification.Status.FAILED, created__gte=since).count()
            + WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED, created__gte=since).count())
