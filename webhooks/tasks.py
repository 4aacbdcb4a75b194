"""Celery task of the webhooks app: one attempt at one delivery (`webhooks.delivery`), on queue `webhooks`
(soniq_site/settings.py CELERY_TASK_ROUTES)."""
from __future__ import annotations

import logging
import random

from django.conf import settings
from django.db import connection

from core.celery_app import app
from webhooks import delivery as attempts

logger = logging.getLogger("webhooks")


@app.task(bind=True, name="webhooks.webhook_deliver", acks_late=True, max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    """Contract: one attempt at one delivery (webhooks/delivery.py webhook_attempt), within
    WEBHOOK_TIMEOUT_SECONDS in all; a failed attempt is retried after WEBHOOK_RETRY_SCHEDULE[attempt - 1]
    seconds until the schedule is used up, then the delivery is `failed`. When the tenant already
    has WEBHOOK_TENANT_CONCURRENCY attempts under way, the task goes back to the queue (about
    WEBHOOK_TENANT_BUSY_RETRY_SECONDS later) without attempting, so one tenant's slow receivers hold
    at most that many worker slots. Returns the delivery's status ("skipped" when another task holds
    or finished it, "deferred" when the tenant's share was full)."""
    try:
        delivery, retry_in = attempts.webhook_attempt(delivery_id=delivery_id)
    except attempts.WebhookTenantBusy:
        # Jitter: a tenant's many waiting deliveries must not all come back at the same instant.
        wait = settings.WEBHOOK_TENANT_BUSY_RETRY_SECONDS * random.uniform(0.5, 1.5)  # noqa: S311 - not a secret
        try:
            webhook_deliver.apply_async(args=[delivery_id], countdown=wait)
        except Exception as exc:  # broker down: the row stays pending and the requeue sweep sends it
            logger.warning("webhook delivery %s (schema %s) not queued: %s", delivery_id, connection.schema_name, exc)
        return "deferred"
    if delivery is None:
        return "skipped"
    if retry_in is not None:
        # A new message rather than self.retry(): its countdown is exact, and the row (not the
        # message) holds the attempt count, so a lost message is found by the requeue sweep.
        webhook_deliver.apply_async(args=[delivery_id], countdown=retry_in)
        return "retrying"
    return delivery.status
