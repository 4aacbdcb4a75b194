"""Celery tasks of the tenants app: keeping LiveKit's SIP trunk in step with the registry
(tenants/sip_sync.py). Thin: they call one service and own the retries."""
from __future__ import annotations

from django.conf import settings

from core.celery_app import app
from tenants import sip_sync
from tenants.sip_trunk import SipTrunkError


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
