"""Asking for a LiveKit SIP sync when the registry changes: after the commit, one Celery task.

Apart from `tenants.sip_sync` (what the task runs) so that this module can import the task at the top
and the task module can import the sync: services import their tasks, tasks call services, no circle.
"""
from __future__ import annotations

import logging

from django.db import transaction

from core import clock
from tenants.models import PhoneNumber
from tenants.sip_sync import sip_sync_enabled
from tenants.tasks import sip_trunk_sync

logger = logging.getLogger("tenants.sip")


def sip_sync_request() -> None:
    """The registry's numbers are changing in the current transaction: queue a sync for after it commits."""
    if sip_sync_enabled():
        transaction.on_commit(_sip_sync_enqueue)


def _sip_sync_enqueue() -> None:
    try:
        sip_trunk_sync.delay()
    except Exception as exc:  # the broker is down: the change stands, the numbers say they are not live yet
        logger.warning("could not queue the LiveKit SIP sync: %s", exc)
        PhoneNumber.objects.exclude(sip_status=PhoneNumber.SipStatus.LIVE).update(
            sip_status=PhoneNumber.SipStatus.NOT_LIVE, sip_checked_at=clock.now(),
            sip_error=f"The LiveKit sync could not be queued ({exc.__class__.__name__}); run `manage.py sip_sync`.")
