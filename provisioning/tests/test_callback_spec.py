"""Callbacks the agent returns, in the tenant spec (`agent.agent_returns_callbacks` and its limits)."""
import pytest
from django_tenants.utils import schema_context

from provisioning.services import TenantSpecError, tenant_provision
from tenants.agent.models import AgentSettings

FIELDS = ("agent_returns_callbacks", "callback_max_attempts", "callback_retry_minutes", "callback_max_concurrent",
          "callback_window_start_hour", "callback_window_end_hour", "callback_abroad_allowed")


def test_a_spec_turns_callbacks_by_the_agent_on_with_its_limits(provisioned, barber_spec):
    barber_spec["agent"].update(agent_returns_callbacks=True, callback_max_attempts=4, callback_retry_minutes=60,
                                callback_max_concurrent=2, callback_window_start_hour=10, callback_window_end_hour=18,
                                callback_abroad_allowed=True)

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.values_list(*FIELDS).get() == (True, 4, 60, 2, 10, 18, True)


def test_callbacks_by_the_agent_are_off_by_default_and_keep_to_nine_to_eight(provisioned, barber_spec):
    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.values_list(*FIELDS).get() == (False, 3, 120, 1, 9, 20, False)


@pytest.mark.parametrize(("values", "path"), [
    ({"agent_returns_callbacks": "yes"}, "agent.agent_returns_callbacks"),
    ({"callback_max_attempts": 0}, "agent.callback_max_attempts"),
    ({"callback_max_concurrent": 21}, "agent.callback_max_concurrent"),
    ({"callback_window_end_hour": 25}, "agent.callback_window_end_hour"),
    ({"callback_window_start_hour": 20, "callback_window_end_hour": 9}, "agent.callback_window_end_hour"),
])
def test_a_bad_callback_setting_is_refused_with_its_path(provisioned, barber_spec, values, path):
    barber_spec["agent"].update(values)

    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)

    assert str(refused.value).startswith(f"{path}:")
