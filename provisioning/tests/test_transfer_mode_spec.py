"""The transfer mode in the tenant spec (`agent.transfer_mode`: cold or warm), and what a call start then carries."""
import pytest
from django_tenants.utils import schema_context

from provisioning.services import TenantSpecError, tenant_provision
from tenants.agent.models import AgentSettings


def test_a_spec_chooses_warm_transfers(provisioned, barber_spec):
    barber_spec["agent"]["transfer_mode"] = "warm"

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.get().transfer_mode == "warm"


def test_transfers_are_cold_unless_the_spec_says_warm(provisioned, barber_spec):
    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.get().transfer_mode == "cold"


def test_a_transfer_mode_it_does_not_offer_is_refused_with_its_path(provisioned, barber_spec):
    barber_spec["agent"]["transfer_mode"] = "lukewarm"

    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)

    assert str(refused.value).startswith("agent.transfer_mode:")
    assert "cold" in str(refused.value) and "warm" in str(refused.value)
