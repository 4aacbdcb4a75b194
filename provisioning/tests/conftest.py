"""Fixtures the provisioning tests share."""
import copy

import pytest
from django.db import connection

from provisioning.services import tenant_delete
from provisioning.tests.specs import BARBER_SPEC
from tenants.models import Tenant


@pytest.fixture
def barber_spec():
    return copy.deepcopy(BARBER_SPEC)


@pytest.fixture
def provisioned(committed_db):
    """Tenants created here get their own schema; drop it afterwards so the session stays clean."""
    # A request made by an earlier test leaves the connection on its tenant's schema.
    connection.set_schema_to_public()
    yield
    for tenant in Tenant.objects.exclude(schema_name__in=["public", "salon", "pizzeria"]):
        tenant_delete(tenant=tenant)
