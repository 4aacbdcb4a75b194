"""Celery task of the webhooks app: one attempt at one delivery (`webhooks.delivery`)."""
from __future__ import annotations

from core.celery_app import app
from webhooks import delivery as attempts


@app.task(bind=True, name="webhooks.webhook_deliver", acks_late=True, max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    """Contract: one attempt at one delivery (webhooks/delivery.py webhook_attempt); a failed attempt
    is retried after WEBHOOK_RETRY_SCHEDULE[attempt - 1] seconds until the schedule is used up, then
    the delivery is `failed`. Returns the delivery's status ("skipped" when another task holds or
    finished it)."""
    delivery, retry_in = attempts.webhook_attempt(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    if retry_in is not None:
        # A new message rather than self.retry(): its countdown is exact, and the row (not the
        # message) holds the attempt count, so a lost message is found by the requeue sweep.
        webhook_deliver.apply_async(args=[delivery_id], countdown=retry_in)
        return "retrying"
    return delivery.status
