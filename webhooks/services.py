"""Webhooks to the business's own systems (a CRM, a spreadsheet, Zapier), signed per the Standard
Webhooks specification (https://www.standardwebhooks.com) with the `standardwebhooks` package.

    webhook_event_record (in the domain's transaction, via notifications.events)
        -> one `WebhookDelivery` row per endpoint that wants the event (unique per endpoint + event)
        -> after commit: Celery task `webhooks.webhook_deliver` (queue `webhooks`) -> webhooks.delivery.webhook_attempt
             2xx within WEBHOOK_TIMEOUT_SECONDS -> delivered
             anything else                      -> retried after WEBHOOK_RETRY_SCHEDULE[n]; failed after the last

This module records and queues; `webhooks.delivery` makes the attempts the task runs (so the task
imports that, and this imports the task: no circle).

One tenant must not stall the others (issue 29, item 1; webhooks/delivery.py says how): each
attempt is bounded by WEBHOOK_TIMEOUT_SECONDS in all, holds no lock during the POST, and takes one
of the tenant's WEBHOOK_TENANT_CONCURRENCY slots; deliveries run on their own queue, so a worker per
queue keeps them away from call logs and texts altogether. A tenant has at most
WEBHOOK_ENDPOINTS_MAX endpoints.

Safety: the endpoint's URL is checked when it is saved (`webhook_endpoint_check`) and at every
attempt (webhooks/addresses.py: https only, no `user:password@`, every IANA special-purpose block
refused), unless WEBHOOK_ALLOW_PRIVATE is set.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.db import connection, transaction

from core import clock
from webhooks.addresses import EndpointRefused, endpoint_url_check
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tasks import webhook_deliver

logger = logging.getLogger("webhooks")


def webhook_endpoint_check(*, url: str, endpoint: WebhookEndpoint | None = None) -> str:
    """The admin's and the spec's check of an endpoint before it is saved: the URL (webhooks/addresses.py)
    and the per-tenant cap. Raises EndpointRefused with a sentence for the owner."""
    endpoint_url_check(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    others = WebhookEndpoint.objects.all()
    if endpoint is not None and endpoint.pk:
        others = others.exclude(pk=endpoint.pk)
    if others.count() >= settings.WEBHOOK_ENDPOINTS_MAX:
        raise EndpointRefused(f"A business can have at most {settings.WEBHOOK_ENDPOINTS_MAX} webhook endpoints; "
                              "delete one you no longer use first.")
    return url


def webhook_event_record(*, event_type: str, event_key: str, data: dict, occurred_at: dt.datetime | None = None) -> list[WebhookDelivery]:
    """Record `event_type` for every active endpoint that wants it, and queue the deliveries once the
    current transaction commits. Recording the same `event_key` again adds nothing (one delivery per
    endpoint and event, whoever emits it twice)."""
    occurred_at = occurred_at or clock.now()
    payload = {"type": event_type, "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "data": data}
    created = []
    for endpoint in WebhookEndpoint.objects.filter(active=True):
        if not endpoint.wants(event_type):
            continue
        delivery, was_created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint, event_key=event_key,
            defaults={"event_type": event_type, "payload": payload, "message_id": f"msg_{secrets.token_hex(12)}",
                      "next_attempt_at": occurred_at},
        )
        if was_created:
            created.append(delivery)
    if created:
        ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: webhook_deliveries_enqueue(delivery_ids=ids), robust=True)
    return created


def webhook_deliveries_enqueue(*, delivery_ids: list[int], countdown: float = 0) -> None:
    for delivery_id in delivery_ids:
        try:
            webhook_deliver.apply_async(args=[delivery_id], countdown=countdown)
        except Exception as exc:  # broker down: the row stays pending and the requeue sweep sends it
            logger.warning("webhook delivery %s (schema %s) not queued: %s", delivery_id, connection.schema_name, exc)


def webhook_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again from the admin (a failed one, or a delivered one the receiver lost),
    with its original `webhook-id` so the receiver can tell it is the same event."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=clock.now(),
                                                          attempts=0)
    transaction.on_commit(lambda: webhook_deliveries_enqueue(delivery_ids=[delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_requeue(*, older_than: dt.timedelta = dt.timedelta(seconds=60)) -> int:
    """Queue again every pending delivery whose attempt is overdue by `older_than`: its task was
    lost (the broker was down at commit, a worker was killed). Returns how many."""
    due = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                              next_attempt_at__lt=clock.now() - older_than).values_list("pk", flat=True)[:1000])
    webhook_deliveries_enqueue(delivery_ids=due)
    return len(due)
