"""Celery tasks of the calls app. Tasks are thin: they call one service and own the retries.
Tenant-aware through tenant-schemas-celery: a task runs in the schema it was sent from."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context

from calls import callback_dialing, followups, log_storage, recordings
from calls.models import Call
from calls.summaries.tasks import call_summarize_task
from core import clock
from core.celery_app import app

ingestion_logger = logging.getLogger("calls.ingestion")

# Errors a later attempt can get past: a lock timeout, a dropped connection, a restarting database.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
# When even the dead letter cannot be written the database is down (the dead letter cannot fail on
# its data); keep the message and try again this often, CALL_LOG_DEAD_LETTER_MAX_RETRIES times,
# rather than acknowledge a log that is stored nowhere.
DATABASE_DOWN_RETRY_SECONDS = 300


def _summary_queue(*, call_id: str) -> None:
    """Once a call's log is stored: its summary, which then sends `call.ended`. A broker that is
    down sends `call.ended` now, without a summary."""
    try:
        call_summarize_task.delay(call_id)
    except Exception as exc:
        ingestion_logger.warning("summary of call %s not queued (%s); sending call.ended without it", call_id, exc)
        followups.call_ended(call=Call.objects.get(pk=call_id))


@app.task(bind=True, name="calls.call_log_store", acks_late=True, max_retries=None)
def call_log_store(self, *, call_id: str, payload: dict) -> str:
    """Store one end-of-call log in the schema it was sent from (see calls/ingestion.py, calls/log_storage.py).

    Contract: transient database errors are retried CALL_LOG_STORE_MAX_RETRIES times with
    exponential backoff (CALL_LOG_RETRY_BACKOFF_MS * 2**n); after the last, or at once for any other
    error, the payload goes to the dead-letter table and the task ends. Storing twice is harmless.
    If the dead letter cannot be written either (the database is unreachable: it cannot fail on the
    payload, which it keeps as ASCII text), the whole task is retried every 5 minutes, at most
    CALL_LOG_DEAD_LETTER_MAX_RETRIES times; after that the payload is logged at CRITICAL level,
    the one place left to keep it, and the task fails. Nothing retries forever.
    """
    attempt = self.request.retries + 1
    try:
        result = log_storage.call_log_store(call_id=call_id, payload=payload)
        if result == "stored":
            _summary_queue(call_id=call_id)
        return result
    except TRANSIENT_DB_ERRORS as exc:
        # The failed connection may be unusable; the next query must get a fresh one.
        close_old_connections()
        if self.request.retries < settings.CALL_LOG_STORE_MAX_RETRIES:
            countdown = settings.CALL_LOG_RETRY_BACKOFF_MS * 2 ** self.request.retries / 1000
            raise self.retry(exc=exc, countdown=countdown) from exc
        error = f"{exc.__class__.__name__} after {attempt} attempts: {exc}"
    except Exception as exc:  # not transient: retrying cannot help, but the payload must not be lost
        error = f"{exc.__class__.__name__}: {exc}"
    try:
        log_storage.ingestion_dead_letter_create(call_id=call_id, payload=payload, error=error, attempts=attempt)
    except Exception as exc:
        close_old_connections()
        if self.request.retries < settings.CALL_LOG_STORE_MAX_RETRIES + settings.CALL_LOG_DEAD_LETTER_MAX_RETRIES:
            ingestion_logger.exception("call log %s: could not write the dead letter either", call_id)
            raise self.retry(exc=exc, countdown=DATABASE_DOWN_RETRY_SECONDS) from exc
        ingestion_logger.critical("call log %s (schema %s) given up after %d attempts, neither stored nor "
                                  "dead-lettered (%s: %s); payload: %s", call_id, connection.schema_name, attempt,
                                  exc.__class__.__name__, exc, log_storage.dead_letter_text(payload))
        raise
    ingestion_logger.error("call log %s (schema %s) dead-lettered: %s", call_id, connection.schema_name, error)
    return "dead_letter"


@app.task(name="calls.calls_close_abandoned")
def calls_close_abandoned() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): close every tenant's calls whose log never came."""
    closed: dict[str, int] = {}
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            count = log_storage.calls_close_abandoned()
        if count:
            closed[tenant.schema_name] = count
            ingestion_logger.warning("closed %d abandoned call(s) in %s", count, tenant.schema_name)
    return closed


@app.task(name="calls.recordings_sweep")
def recordings_sweep() -> dict[str, dict[str, int]]:
    """Periodic (CELERY_BEAT_SCHEDULE): in every tenant, delete recordings (and, where the tenant
    chose so, transcripts) past its retention. A recording storage would not delete stays for the
    next run."""
    swept: dict[str, dict[str, int]] = {}
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            result = recordings.recordings_sweep()
        if any(result.values()):
            swept[tenant.schema_name] = result
    return swept


@app.task(name="calls.callbacks_place_due")
def callbacks_place_due() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): in every tenant that lets its agent return callbacks, dial
    the callbacks the calling rules allow now (calls/callback_dialing.py). A tenant whose run fails
    is logged and left for the next beat; the others still run."""
    placed: dict[str, int] = {}
    missing = callback_dialing.outbound_calling_missing()
    if missing:
        # Every attempt would fail and use up a customer's tries: none is started.
        ingestion_logger.info("no callbacks placed: outbound calling is off (%s not set)", ", ".join(missing))
        return placed
    now = clock.now()
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            try:
                attempts = callback_dialing.callbacks_place_due(tenant=tenant, now=now)
            except Exception:
                ingestion_logger.exception("placing due callbacks failed in %s", tenant.schema_name)
                continue
        if attempts:
            placed[tenant.schema_name] = len(attempts)
    return placed
