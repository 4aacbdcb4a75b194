"""The outbound SIP trunk (the agent's calls out: warm transfers, callbacks) follows the settings and the
registry through `manage.py sip_sync`, like the inbound one: made when SIP_OUTBOUND_ADDRESS is set,
carrying every tenant number as a possible caller id, repaired when changed behind Soniq's back, and
deleted when outbound calling is turned off. Through the real livekit.api client against the local
Twirp SIP service (livekit_sip_fake.py)."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from livekit.protocol import sip as sip_proto

from provisioning.services import tenant_delete, tenant_provision
from tenants.models import Tenant
from tenants.tests.sip_fixtures import DEMO_NUMBERS, run_queued_syncs, sip_state_reset
from tenants.tests.test_sip_sync import behind_sonics_back

OUTBOUND = "soniq-outbound"


@pytest.fixture
def outbound(committed_db, sip_settings, queued_syncs, settings):
    """Outbound calling through SignalWire's SIP domain, with the endpoint's credentials."""
    connection.set_schema_to_public()
    settings.SIP_OUTBOUND_ADDRESS = "example.sip.signalwire.com"
    settings.SIP_OUTBOUND_USERNAME, settings.SIP_OUTBOUND_PASSWORD = "soniq-out", "outbound-secret-2026"
    settings.SIP_OUTBOUND_TRANSPORT = "tls"
    settings.LIVEKIT_SIP_OUTBOUND_TRUNK_NAME = OUTBOUND
    yield sip_settings
    connection.set_schema_to_public()
    for tenant in Tenant.objects.exclude(schema_name__in=["public", "salon", "pizzeria"]):
        tenant_delete(tenant=tenant)
    sip_state_reset()


def sip_sync_command(*args: str) -> str:
    out = StringIO()
    call_command("sip_sync", *args, stdout=out)
    return out.getvalue()


def test_it_makes_the_outbound_trunk_to_the_carrier_with_every_tenant_number_as_caller_id(outbound):
    output = sip_sync_command()

    trunk = outbound.outbound_trunk_named(OUTBOUND)
    assert trunk is not None
    assert trunk.address == "example.sip.signalwire.com"
    assert trunk.transport == sip_proto.SIP_TRANSPORT_TLS
    assert (trunk.auth_username, trunk.auth_password) == ("soniq-out", "outbound-secret-2026")
    assert set(trunk.numbers) == DEMO_NUMBERS
    assert f"outbound trunk {trunk.sip_trunk_id}" in output
    assert "LiveKit matches the registry" in sip_sync_command("--check")


def test_it_puts_a_new_tenants_number_on_the_outbound_trunk_after_provisioning(outbound, queued_syncs):
    sip_sync_command()

    tenant_provision(spec={"slug": "florist", "name": "Petal Florist", "domain": "florist.localhost",
                           "timezone": "America/New_York", "phone_numbers": ["+1 555 010 0042"]})
    run_queued_syncs(queued_syncs)

    assert set(outbound.outbound_trunk_named(OUTBOUND).numbers) == DEMO_NUMBERS | {"+15550100042"}


def test_it_repairs_an_outbound_trunk_changed_behind_sonics_back(outbound):
    sip_sync_command()
    trunk_id = outbound.outbound_trunk_named(OUTBOUND).sip_trunk_id
    behind_sonics_back(outbound, lambda lkapi: lkapi.sip.update_outbound_trunk_fields(
        trunk_id, address="elsewhere.example.net", numbers=["+15550100001"]))

    with pytest.raises(CommandError, match="does not match the registry"):
        sip_sync_command("--check")
    output = sip_sync_command()

    assert "points at 'elsewhere.example.net' instead of SIP_OUTBOUND_ADDRESS" in output
    assert "lacks the caller ids +493055500002" in output
    trunk = outbound.outbound_trunk_named(OUTBOUND)
    assert trunk.sip_trunk_id == trunk_id
    assert (trunk.address, set(trunk.numbers)) == ("example.sip.signalwire.com", DEMO_NUMBERS)


def test_it_deletes_the_outbound_trunk_when_outbound_calling_is_turned_off(outbound, settings):
    sip_sync_command()
    assert outbound.outbound_trunk_named(OUTBOUND) is not None

    settings.SIP_OUTBOUND_ADDRESS = ""
    output = sip_sync_command()

    assert "fixed: the outbound trunk 'soniq-outbound' exists but SIP_OUTBOUND_ADDRESS is empty" in output
    assert outbound.outbound_trunk_named(OUTBOUND) is None
    assert outbound.trunk_named("soniq-inbound") is not None  # the inbound line is untouched


def test_it_refuses_an_unknown_transport_and_says_which_are_known(outbound, settings):
    settings.SIP_OUTBOUND_TRANSPORT = "carrier-pigeon"

    output = sip_sync_command()

    assert "SIP_OUTBOUND_TRANSPORT is 'carrier-pigeon'; use one of udp, tcp, tls, auto." in output
    assert outbound.requests == []
