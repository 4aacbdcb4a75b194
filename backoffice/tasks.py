"""Celery tasks of the back office: the owners' daily digests (backoffice/digest.py) and the sweep that
queues again the follow-ups whose task was lost. Thin: they call one service in every tenant. (The
sweep sits here, above notifications and webhooks, because it queues their tasks: beside them it would
import the services that import it.)"""
from __future__ import annotations

from backoffice.digest import digest_send_if_due
from core.celery_app import app
from notifications.services import notifications_requeue
from notifications.tasks import each_tenant
from webhooks.services import webhook_deliveries_requeue


@app.task(name="notifications.digests_send")
def digests_send() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): queue each tenant's digest of yesterday once it is due."""
    return each_tenant(lambda: len(digest_send_if_due()))


@app.task(name="notifications.followups_requeue")
def followups_requeue() -> dict[str, int]:
    """Periodic: queue again the notifications and webhook deliveries whose task was lost."""
    return each_tenant(lambda: notifications_requeue() + webhook_deliveries_requeue())
