"""Celery tasks of calendar sync: writing one booking's event, syncing one calendar, and the periodic
sweep. Thin: they call calendars/sync.py and own the retries; calendars/services.py queues them.
Tenant-aware through tenant-schemas-celery: each task runs in the schema it was sent from."""
from __future__ import annotations

import logging

from django.conf import settings
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context

from calendars import sync
from calendars.models import CalendarConnection
from calendars.providers import ProviderError
from core.celery_app import app

logger = logging.getLogger("calendars")


def _backoff(retries: int) -> float:
    return settings.CALENDAR_RETRY_BACKOFF_MS * 2 ** retries / 1000


@app.task(bind=True, name="calendars.calendar_event_push", acks_late=True, max_retries=None)
def calendar_event_push_task(self, event_id: int) -> str:
    """Contract: write one booking's event (or delete it) in its calendar. Transient failures are
    retried CALENDAR_PUSH_MAX_RETRIES times with exponential backoff (CALENDAR_RETRY_BACKOFF_MS *
    2**n); after that the event stays pending for the periodic sync. Idempotent: the event's id is
    derived from the booking, and only a pending event is written."""
    last = self.request.retries >= settings.CALENDAR_PUSH_MAX_RETRIES
    try:
        return sync.calendar_event_push(event_id=event_id, last_attempt=last)
    except ProviderError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@app.task(bind=True, name="calendars.calendar_sync", acks_late=True, max_retries=None)
def calendar_sync_task(self, connection_id: int) -> str:
    """Contract: sync one calendar (busy times, pending events, conflicts, push channel). A transient
    failure is retried CALENDAR_PUSH_MAX_RETRIES times with backoff; the next periodic run tries again
    in any case."""
    connection = CalendarConnection.objects.filter(pk=connection_id).first()
    if connection is None or connection.status != CalendarConnection.Status.CONNECTED:
        return "not connected"
    try:
        sync.calendar_sync(connection=connection)
    except ProviderError as exc:
        if exc.transient and self.request.retries < settings.CALENDAR_PUSH_MAX_RETRIES:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
        return "failed"
    return "synced"


@app.task(name="calendars.calendars_sync")
def calendars_sync() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): queue a sync of every connected calendar of every tenant. This
    is what repairs drift: events a lost task never wrote, busy times a missed push did not bring."""
    queued: dict[str, int] = {}
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        try:
            with tenant_context(tenant):
                ids = list(CalendarConnection.objects.filter(status=CalendarConnection.Status.CONNECTED)
                           .values_list("pk", flat=True))
                for connection_id in ids:
                    calendar_sync_task.delay(connection_id)
        except Exception:
            logger.exception("calendar sweep failed in %s", tenant.schema_name)
            continue
        if ids:
            queued[tenant.schema_name] = len(ids)
    return queued
