"""Call recordings in the tenant spec (`agent.record_calls` and friends) and on deprovisioning."""
import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from calls.recordings import recording_store
from calls.services import call_start
from calls.tests.recording_helpers import filesystem_storage, ogg_opus
from core import clock
from provisioning.services import TenantSpecError, tenant_provision
from tenants.agent.models import AgentSettings


def test_a_spec_turns_recording_on_with_its_disclosure_and_retention(provisioned, barber_spec):
    barber_spec["agent"].update(record_calls=True, recording_retention_days=90,
                                recording_disclosure="Calls are recorded for training.",
                                recording_retention_deletes_transcript=True)

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        agent = AgentSettings.objects.get()
    assert (agent.record_calls, agent.recording_retention_days, agent.recording_retention_deletes_transcript) == (
        True, 90, True)
    assert agent.disclosure_text() == "Calls are recorded for training."


def test_recording_is_off_by_default_with_the_standard_disclosure_in_the_agents_language(provisioned, barber_spec):
    barber_spec["agent"]["language"] = "es"

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        agent = AgentSettings.objects.get()
    assert (agent.record_calls, agent.recording_retention_days, agent.recording_disclosure) == (False, 30, "")
    assert agent.disclosure_text() == "Esta llamada se graba para poder atenderle mejor."


@pytest.mark.parametrize(("values", "path"), [
    ({"record_calls": "yes"}, "agent.record_calls"),
    ({"recording_retention_days": 0}, "agent.recording_retention_days"),
    ({"recording_retention_days": 100_000}, "agent.recording_retention_days"),
    ({"recording_disclosure": "x" * 501}, "agent.recording_disclosure"),
])
def test_a_bad_recording_setting_is_refused_with_its_path(provisioned, barber_spec, values, path):
    barber_spec["agent"].update(values)

    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)

    assert str(refused.value).startswith(f"{path}:")


def test_deprovisioning_deletes_every_recording_from_storage(provisioned, barber_spec, settings, tmp_path):
    filesystem_storage(settings, tmp_path / "recordings")
    tenant_provision(spec=barber_spec)
    with schema_context("barber"):
        for minutes in (5, 10):
            call = call_start(called_number="+442079460001", caller_number="+447700900123",
                              now=clock.now() - dt.timedelta(minutes=minutes))
            recording_store(call=call, audio=ogg_opus(seconds=0.5))
    # Something of the tenant's left in its folder without a row (a crash between the two) goes too.
    stray = tmp_path / "recordings" / "recordings" / "barber" / "stray.ogg"
    stray.write_bytes(b"OggS")
    salon_file = tmp_path / "recordings" / "recordings" / "salon" / "keep.ogg"
    salon_file.parent.mkdir(parents=True)
    salon_file.write_bytes(b"OggS")

    call_command("deprovision_tenant", "barber", "--yes", stdout=StringIO())

    left = [path for path in Path(tmp_path / "recordings").rglob("*") if path.is_file()]
    assert left == [salon_file]


def test_an_existing_businesss_front_desk_gets_to_listen_when_the_migration_runs(committed_db):
    """Tenants provisioned before recordings existed: the data migration grants the Front desk group
    the new permission (and taking the migration back removes it)."""
    from django.contrib.auth.models import Group

    def front_desk_listens() -> bool:
        with schema_context("salon"):
            return Group.objects.get(name="Front desk").permissions.filter(codename="listen_callrecording").exists()

    assert front_desk_listens()
    try:
        call_command("migrate_schemas", "calls", "0010_call_recordings", schema_name="salon", verbosity=0)
        assert not front_desk_listens()
    finally:
        call_command("migrate_schemas", "calls", schema_name="salon", verbosity=0)
    assert front_desk_listens()
