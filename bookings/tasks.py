"""Periodic booking work, run by Celery beat (CELERY_BEAT_SCHEDULE)."""
from __future__ import annotations

import logging

from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context

from bookings.services import booking_reminders_queue
from core.celery_app import app

logger = logging.getLogger("bookings")


@app.task(name="bookings.booking_reminders_send")
def booking_reminders_send() -> dict[str, int]:
    """Every tenant's due reminders (`bookings.services.booking_reminders_queue`)."""
    reminded: dict[str, int] = {}
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with tenant_context(tenant):
            count = len(booking_reminders_queue())
        if count:
            reminded[tenant.schema_name] = count
            logger.info("queued %d booking reminder(s) in %s", count, tenant.schema_name)
    return reminded
