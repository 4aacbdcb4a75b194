"""LiveKit's SIP trunk and dispatch rule follow the registry: provisioning, number changes and
deprovisioning queue a sync after the commit; `sip_sync` repairs drift; a LiveKit that is down
leaves the number "not live" until a sync gets through.

Everything talks to a local Twirp SIP service (livekit_sip_fake.py) through the real livekit.api
client. The `tenants.sip_trunk_sync` task is run in this process (`apply`: retries inline); the
tests catch what would have gone to the broker instead.
"""
from __future__ import annotations

import asyncio
import logging
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from livekit.protocol import models as models_proto
from livekit.protocol import sip as sip_proto

from provisioning.services import tenant_delete, tenant_provision
from tenants import sip_sync
from tenants.models import PhoneNumber, Tenant
from tenants.tasks import sip_trunk_check, sip_trunk_sync
from tenants.tests.livekit_sip_fake import FakeLiveKitSip
from tenants.tests.sip_fixtures import DEMO_NUMBERS, RULE, TRUNK, run_queued_syncs, sip_state_reset
from voiceworker.tests.fakes import free_port_url

SPEC = {"slug": "florist", "name": "Petal Florist", "domain": "florist.localhost", "timezone": "America/New_York",
        "phone_numbers": ["+1 555 010 0042"]}
FLORIST_NUMBER = "+15550100042"


@pytest.fixture
def committed(committed_db, queued_syncs):
    """Committed writes (provisioning creates schemas); the tenants, number states and trunk status
    these tests make are removed afterwards."""
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()
    for tenant in Tenant.objects.exclude(schema_name__in=["public", "salon", "pizzeria"]):
        tenant_delete(tenant=tenant)
    sip_state_reset()


def behind_sonics_back(fake: FakeLiveKitSip, change) -> None:
    """An operator changing LiveKit directly: `change(lkapi)` is a coroutine function."""
    async def run():
        async with fake.client() as lkapi:
            await change(lkapi)
    asyncio.run(run())


def number_state(number: str) -> tuple[str, str]:
    phone = PhoneNumber.objects.get(number=number)
    return phone.sip_status, phone.sip_error


def sip_sync_command(*args: str) -> str:
    out = StringIO()
    call_command("sip_sync", *args, stdout=out)
    return out.getvalue()


def test_it_puts_a_provisioned_tenants_number_on_the_trunk_with_a_rule_for_the_agent(committed, sip_settings,
                                                                                       queued_syncs):
    tenant_provision(spec=SPEC)

    assert queued_syncs == ["sync"]
    assert sip_settings.requests == []  # nothing reaches LiveKit before the worker runs the task
    assert run_queued_syncs(queued_syncs) == ["fixed"]
    trunk = sip_settings.trunk_named(TRUNK)
    assert set(trunk.numbers) == DEMO_NUMBERS | {FLORIST_NUMBER}
    assert (trunk.auth_username, trunk.auth_password) == ("signalwire", "trunk-secret-2026")
    rule = sip_settings.rule_named(RULE)
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    assert [agent.agent_name for agent in rule.room_config.agents] == ["soniq"]
    assert number_state(FLORIST_NUMBER) == ("live", "")
    assert sip_sync.sip_health() == "ok"


def test_it_changes_nothing_when_the_same_spec_is_provisioned_again(committed, sip_settings, queued_syncs):
    tenant_provision(spec=SPEC)
    run_queued_syncs(queued_syncs)

    tenant_provision(spec=SPEC)

    assert queued_syncs == []


def test_it_takes_released_and_deprovisioned_numbers_off_the_trunk(committed, sip_settings, queued_syncs):
    tenant_provision(spec={**SPEC, "phone_numbers": ["+1 555 010 0042", "+1 555 010 0043"]})
    run_queued_syncs(queued_syncs)
    assert {FLORIST_NUMBER, "+15550100043"} <= sip_settings.numbers_of(TRUNK)

    tenant_provision(spec=SPEC)
    run_queued_syncs(queued_syncs)
    assert "+15550100043" not in sip_settings.numbers_of(TRUNK)
    assert FLORIST_NUMBER in sip_settings.numbers_of(TRUNK)

    tenant_delete(tenant=Tenant.objects.get(schema_name="florist"))
    assert run_queued_syncs(queued_syncs) == ["fixed"]
    assert sip_settings.numbers_of(TRUNK) == DEMO_NUMBERS


def test_it_repairs_numbers_added_or_removed_behind_sonics_back(committed, sip_settings, queued_syncs):
    call_command("sip_sync", stdout=StringIO())
    trunk_id = sip_settings.trunk_named(TRUNK).sip_trunk_id
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.update_inbound_trunk_fields(
        trunk_id, numbers=models_proto.ListUpdate(add=["+15550109999"], remove=["+493055500002"])))

    with pytest.raises(CommandError, match="does not match the registry"):
        sip_sync_command("--check")

    # --check changes nothing in LiveKit, but records what it found for the admin and /healthz.
    assert sip_settings.numbers_of(TRUNK) == {"+15550100001", "+15550109999"}
    assert number_state("+493055500002") == ("not_live", "Not on LiveKit's SIP trunk; `manage.py sip_sync` puts it there.")
    health = sip_sync.sip_health()
    assert health.startswith("drift: ") and "+493055500002" in health and "+15550109999" in health

    output = sip_sync_command()

    assert "fixed: not on the trunk: +493055500002" in output
    assert "fixed: on the trunk but no tenant's: +15550109999" in output
    assert sip_settings.numbers_of(TRUNK) == DEMO_NUMBERS
    assert number_state("+493055500002") == ("live", "")
    assert sip_sync.sip_health() == "ok"
    assert "LiveKit matches the registry" in sip_sync_command("--check")


def test_it_leaves_numbers_on_other_trunks_alone(committed, sip_settings, queued_syncs):
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.create_inbound_trunk(sip_proto.CreateSIPInboundTrunkRequest(
        trunk=sip_proto.SIPInboundTrunkInfo(name="front-office", numbers=["+15550107777"]))))

    sip_sync_command()

    assert sip_settings.numbers_of("front-office") == {"+15550107777"}
    assert sip_settings.numbers_of(TRUNK) == DEMO_NUMBERS


def test_it_repairs_a_dispatch_rule_changed_behind_sonics_back(committed, sip_settings, queued_syncs):
    sip_sync_command()
    rule = sip_settings.rule_named(RULE)
    rule.rule.dispatch_rule_individual.room_prefix = "Other-"
    del rule.room_config.agents[:]
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.update_dispatch_rule(rule.sip_dispatch_rule_id, rule))

    with pytest.raises(CommandError):
        sip_sync_command("--check")
    health = sip_sync.sip_health()
    assert "names rooms 'Other-'… instead of 'call-'…" in health and "does not dispatch the agent 'soniq'" in health

    sip_sync_command()

    repaired = sip_settings.rule_named(RULE)
    assert repaired.sip_dispatch_rule_id == rule.sip_dispatch_rule_id
    assert repaired.rule.dispatch_rule_individual.room_prefix == "call-"
    assert [agent.agent_name for agent in repaired.room_config.agents] == ["soniq"]


def test_it_recreates_a_deleted_trunk(committed, sip_settings, queued_syncs):
    sip_sync_command()
    trunk_id = sip_settings.trunk_named(TRUNK).sip_trunk_id
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.delete_trunk(
        sip_proto.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id)))

    sip_sync_command()

    trunk = sip_settings.trunk_named(TRUNK)
    assert trunk.sip_trunk_id != trunk_id and set(trunk.numbers) == DEMO_NUMBERS
    assert list(sip_settings.rule_named(RULE).trunk_ids) == [trunk.sip_trunk_id]


def test_it_uses_allowed_addresses_instead_of_credentials(committed, sip_settings, queued_syncs, settings):
    settings.LIVEKIT_SIP_AUTH_USERNAME = settings.LIVEKIT_SIP_AUTH_PASSWORD = ""
    settings.LIVEKIT_SIP_ALLOWED_ADDRESSES = ["64.16.250.0/24"]

    sip_sync_command()

    trunk = sip_settings.trunk_named(TRUNK)
    assert (list(trunk.allowed_addresses), trunk.auth_username) == (["64.16.250.0/24"], "")


def test_it_shows_the_number_not_live_while_livekit_is_down_and_the_next_sync_fixes_it(committed, sip_settings,
                                                                                      queued_syncs, settings):
    sip_sync_command()
    settings.LIVEKIT_URL = free_port_url()

    tenant_provision(spec=SPEC)
    assert run_queued_syncs(queued_syncs) == ["failed"]  # after LIVEKIT_SIP_SYNC_MAX_RETRIES retries

    # The tenant and its number stand; the number says why it does not ring.
    assert Tenant.objects.filter(schema_name="florist").exists()
    status, reason = number_state(FLORIST_NUMBER)
    assert status == "not_live"
    assert reason.startswith("LiveKit could not be reached to list the SIP trunks")
    assert not reason.endswith("retrying.")
    # The numbers LiveKit already carried are not known to be down: they stay live.
    assert number_state("+15550100001") == ("live", "")
    assert sip_sync.sip_health().startswith("error: LiveKit could not be reached")

    settings.LIVEKIT_URL = sip_settings.url
    sip_sync_command()

    assert FLORIST_NUMBER in sip_settings.numbers_of(TRUNK)
    assert number_state(FLORIST_NUMBER) == ("live", "")


def test_it_retries_a_sync_livekit_could_not_answer(committed, sip_settings, queued_syncs, settings, monkeypatch):
    settings.LIVEKIT_URL = free_port_url()
    tenant_provision(spec=SPEC)
    attempts = []
    original = sip_sync.sip_sync_run

    def counting(**kwargs):
        attempts.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(sip_sync, "sip_sync_run", counting)
    run_queued_syncs(queued_syncs)

    assert [attempt["final"] for attempt in attempts] == [False, False, True]


def test_it_does_not_retry_a_refusal_and_shows_livekits_reason(committed, sip_settings, queued_syncs):
    sip_sync_command()
    # The florist's number is already on someone else's trunk: LiveKit refuses to put it on a second.
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.create_inbound_trunk(sip_proto.CreateSIPInboundTrunkRequest(
        trunk=sip_proto.SIPInboundTrunkInfo(name="old-pbx", numbers=[FLORIST_NUMBER]))))
    requests_before = len(sip_settings.requests)

    tenant_provision(spec=SPEC)

    assert run_queued_syncs(queued_syncs) == ["failed"]
    assert sip_settings.requests[requests_before:] == ["ListSIPInboundTrunk", "UpdateSIPInboundTrunk"]
    status, reason = number_state(FLORIST_NUMBER)
    assert status == "not_live" and "Conflicting inbound SIP Trunks" in reason
    assert number_state("+15550100001") == ("live", "")


def test_it_reports_the_last_known_state_on_healthz_without_asking_livekit(committed, sip_settings, queued_syncs,
                                                                          api_server):
    assert requests.get(f"{api_server.url}/healthz", timeout=5).json()["sip_trunk"].startswith("unknown")
    sip_sync_command()
    trunk_id = sip_settings.trunk_named(TRUNK).sip_trunk_id
    behind_sonics_back(sip_settings, lambda lkapi: lkapi.sip.update_inbound_trunk_fields(
        trunk_id, numbers=models_proto.ListUpdate(remove=["+15550100001"])))
    assert sip_trunk_check.apply().get() == "drift"  # the periodic check (celery beat)
    requests_before = len(sip_settings.requests)

    response = requests.get(f"{api_server.url}/healthz", timeout=5)

    assert response.status_code == 200  # drift is reported, not a reason to take the web process out
    assert response.json()["sip_trunk"] == "drift: Not on the trunk: +15550100001."
    assert len(sip_settings.requests) == requests_before
    assert "+15550100001" not in sip_settings.numbers_of(TRUNK)  # the check changed nothing


def test_it_stands_aside_without_livekit_settings(committed, queued_syncs, settings, caplog, monkeypatch):
    settings.LIVEKIT_URL = ""
    monkeypatch.setattr(sip_sync, "_off_logged", False)

    with caplog.at_level(logging.INFO, logger="tenants.sip"):
        tenant_provision(spec=SPEC)
        tenant_provision(spec={**SPEC, "phone_numbers": []})
        assert sip_trunk_check.apply().get() == "off"

    assert queued_syncs == []
    assert [record.getMessage() for record in caplog.records if record.name == "tenants.sip"] == [
        "LiveKit SIP trunk sync is off: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, LIVEKIT_SIP_TRUNK_NAME not "
        "set; numbers must be put on a trunk by hand."]
    assert "is off" in sip_sync_command("--check")  # and exits 0: there is nothing it manages
    assert sip_sync.sip_health() == "off"


def test_it_refuses_to_manage_a_trunk_anyone_could_call(sip_settings, settings):
    settings.LIVEKIT_SIP_AUTH_USERNAME = settings.LIVEKIT_SIP_AUTH_PASSWORD = ""

    assert "so that only SignalWire can call in" in sip_sync_command()
    assert sip_settings.requests == []


def test_it_keeps_the_change_and_says_so_when_the_sync_cannot_be_queued(committed, sip_settings, monkeypatch):
    def broker_down():
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr(sip_trunk_sync, "delay", broker_down)

    tenant_provision(spec=SPEC)

    status, reason = number_state(FLORIST_NUMBER)
    assert status == "not_live"
    assert reason == "The LiveKit sync could not be queued (ConnectionRefusedError); run `manage.py sip_sync`."
    assert sip_settings.requests == []
