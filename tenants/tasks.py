"""Tenant housekeeping run by Celery."""
from __future__ import annotations

import logging

from soniq_site.celery import app
from tenants.schema_template import spare_schemas_fill

logger = logging.getLogger("tenants")


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
