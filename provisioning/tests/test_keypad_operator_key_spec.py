"""The key callers press to reach a person, in the tenant spec (`agent.keypad_operator_key`), through
the `provision_tenant` command an operator runs."""
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from tenants.agent.models import AgentSettings


def provision(spec_text: str, tmp_path) -> str:
    path = tmp_path / "barber.yaml"
    path.write_text(spec_text)
    out = StringIO()
    call_command("provision_tenant", str(path), stdout=out)
    return out.getvalue()


def operator_key() -> str:
    with schema_context("barber"):
        return AgentSettings.objects.get().keypad_operator_key


def test_it_is_zero_unless_the_spec_says_otherwise(provisioned, barber_spec, tmp_path):
    provision(yaml.safe_dump(barber_spec), tmp_path)

    assert operator_key() == "0"


@pytest.mark.parametrize(("written", "stored"), [('"#"', "#"), ('"*"', "*"), ("9", "9")],
                         ids=["pound", "star", "unquoted digit"])
def test_a_spec_chooses_the_key(provisioned, barber_spec, tmp_path, written, stored):
    spec = yaml.safe_dump(barber_spec).replace("agent:\n", f"agent:\n  keypad_operator_key: {written}\n", 1)

    provision(spec, tmp_path)

    assert operator_key() == stored


@pytest.mark.parametrize("written", ['"10"', '"x"', "#"], ids=["two keys", "a letter", "unquoted pound (a comment)"])
def test_a_key_no_keypad_has_is_refused_with_its_path(provisioned, barber_spec, tmp_path, written):
    spec = yaml.safe_dump(barber_spec).replace("agent:\n", f"agent:\n  keypad_operator_key: {written}\n", 1)

    with pytest.raises(CommandError, match=r"agent\.keypad_operator_key"):
        provision(spec, tmp_path)

    with schema_context("public"):
        from tenants.models import Tenant

        assert not Tenant.objects.filter(schema_name="barber").exists()
