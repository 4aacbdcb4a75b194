"""Celery tasks of the tenants app: keeping LiveKit's SIP trunk in step with the registry
(tenants/sip_sync.py) and the spare tenant schemas ready (tenants/schema_template.py). Thin: they call
one service and own the retries."""
from __future__ import annotations

import logging

from django.conf import settings

from core.celery_app import app
from tenants import sip_sync
from tenants.schema_template import spare_schemas_fill
from tenants.sip_trunk import SipTrunkError

logger = logging.getLogger("tenants")


@app.task(bind=True, name="tenants.sip_trunk_sync", acks_late=True, max_retries=None)
def sip_trunk_sync(self) -> str:
    """Make LiveKit's trunk and dispatch rule match the whole registry (queued after every number change).

    Contract: a LiveKit that cannot be reached or answers 5xx is retried LIVEKIT_SIP_SYNC_MAX_RETRIES
    times with exponential backoff (LIVEKIT_SIP_RETRY_BACKOFF_MS * 2**n); a refusal (4xx) is not.
    Every attempt records its outcome on the numbers ("not live" with the reason until one succeeds).
    Running it twice, or after a newer sync, is harmless: each sync reads the registry afresh.
    Returns "in_step", "fixed", "failed" or "off".
    """
    if not sip_sync.sip_sync_enabled():
        return "off"
    last_try = self.request.retries >= settings.LIVEKIT_SIP_SYNC_MAX_RETRIES
    try:
        report = sip_sync.sip_sync_run(apply=True, final=last_try)
    except SipTrunkError as exc:
        if exc.transient and not last_try:
            countdown = settings.LIVEKIT_SIP_RETRY_BACKOFF_MS * 2 ** self.request.retries / 1000
            raise self.retry(exc=exc, countdown=countdown) from exc
        return "failed"
    return "in_step" if report.in_step else "fixed"


@app.task(name="tenants.sip_trunk_check")
def sip_trunk_check() -> str:
    """Periodic (CELERY_BEAT_SCHEDULE): record whether LiveKit still matches the registry, changing
    nothing there, so /healthz and the operator admin show drift made behind Soniq's back."""
    if not sip_sync.sip_sync_enabled():
        return "off"
    try:
        report = sip_sync.sip_sync_run(apply=False)
    except SipTrunkError:
        return "failed"
    return "in_step" if report.in_step else "drift"


@app.task(name="tenants.tenant_spare_schemas_fill")
def tenant_spare_schemas_fill() -> int:
    """Keep TENANT_SPARE_SCHEMAS ready-made copies of the template schema, so the next tenant is a
    rename (tenants/schema_template.py). Sent after every provisioning that took a spare, and by
    beat as a safety net; two at once make at most a spare too many, which the next tenant takes."""
    made = spare_schemas_fill()
    if made:
        logger.info("made %d spare tenant schema(s)", made)
    return made


def tenant_spare_schemas_fill_soon() -> None:
    """After a provisioning commits: ask Celery for a new spare. A broker that is down must not turn
    a committed provisioning into an error; beat's run and the next deploy fill the pool too."""
    try:
        tenant_spare_schemas_fill.delay()
    except Exception:  # noqa: BLE001 - kombu raises many kinds; the tenant exists either way
        logger.warning("could not ask Celery for a new spare tenant schema", exc_info=True)
