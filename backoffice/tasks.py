"""Celery tasks of the back office: the owners' daily digests (backoffice/digest.py). Thin: they call
one service in every tenant."""
from __future__ import annotations

from backoffice.digest import digest_send_if_due
from core.celery_app import app
from notifications.tasks import each_tenant


@app.task(name="notifications.digests_send")
def digests_send() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): queue each tenant's digest of yesterday once it is due."""
    return each_tenant(lambda: len(digest_send_if_due()))
