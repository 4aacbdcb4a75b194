"""Provisioning from a spec: create, update, idempotent, and every bad-spec case changes nothing."""
import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context

from bookings.models import Service
from orders.models import MenuItem
from provisioning.services import TenantSpecError, tenant_provision
from tenants.agent.models import AgentSettings, EscalationHours
from tenants.hours.models import Closure, OpeningHours
from tenants.models import Domain, PhoneNumber, Tenant


def snapshot(slug: str) -> dict:
    """Everything a provisioning run can touch, as comparable values."""
    tenant = Tenant.objects.get(schema_name=slug)
    with schema_context(slug):
        from django.contrib.auth import get_user_model

        return {
            "tenant": (tenant.name, tenant.timezone),
            "domains": sorted(tenant.domains.values_list("domain", "is_primary")),
            "numbers": sorted(tenant.phone_numbers.values_list("number", flat=True)),
            "users": sorted(get_user_model().objects.values_list("username", "password", "is_superuser")),
            "agent": list(AgentSettings.objects.values()),
            "escalation": list(EscalationHours.objects.order_by("id").values()),
            "hours": list(OpeningHours.objects.order_by("id").values()),
            "closures": list(Closure.objects.order_by("id").values()),
            "services": list(Service.objects.order_by("id").values()),
            "menu": list(MenuItem.objects.order_by("id").values()),
        }


def test_it_creates_a_tenant_with_everything_in_the_spec(provisioned, barber_spec):
    result = tenant_provision(spec=barber_spec)

    assert result.created
    tenant = Tenant.objects.get(schema_name="barber")
    assert tenant.name == "Sharp Barbers" and tenant.timezone == "Europe/London"
    assert tenant.country == "GB"  # the country of its first number: no `country` in the spec
    assert list(tenant.domains.values_list("domain", flat=True)) == ["barber.localhost"]
    assert list(tenant.phone_numbers.values_list("number", flat=True)) == ["+442079460001"]
    with schema_context("barber"):
        from django.contrib.auth import get_user_model

        owner = get_user_model().objects.get()
        assert owner.username == "owner@barber.example" and owner.check_password("barber-pass-2026")
        assert owner.is_staff and owner.is_superuser
        agent = AgentSettings.objects.get()
        assert agent.greeting == "Sharp Barbers, how can I help?" and agent.max_call_seconds == 300
        assert agent.transfer_to == "tel:+442079460999" and agent.sms_confirmations
        assert [(h.weekday, h.opens, h.closes) for h in OpeningHours.objects.all()] == [
            (0, dt.time(9), dt.time(12)), (0, dt.time(13), dt.time(18)), (5, dt.time(10), dt.time(14))]
        assert [(c.date, c.reason) for c in Closure.objects.all()] == [
            (dt.date(2026, 12, 25), ""), (dt.date(2026, 12, 26), "Boxing Day")]
        service = Service.objects.get()
        assert (service.name, service.capacity, service.price, service.aliases) == ("Beard Trim", 3, Decimal("15.50"), ["beard"])
        assert MenuItem.objects.get().price == Decimal("2.20")
        assert EscalationHours.objects.count() == 1


def test_it_gives_the_business_a_front_desk_group_for_staff(provisioned, barber_spec):
    from django.contrib.auth.models import Group

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        granted = set(Group.objects.get(name="Front desk").permissions.values_list("codename", flat=True))
    assert {"add_booking", "change_booking", "view_call", "change_callbackrequest", "change_order",
            "listen_callrecording", "view_smsreply", "change_smsreply"} <= granted
    assert not granted & {"change_agentsettings", "add_user", "change_service", "change_openinghours",
                          "delete_callrecording"}
    assert len(granted) == 16  # and reading and handling the texts customers send back


def test_running_the_same_spec_twice_changes_nothing(provisioned, barber_spec):
    tenant_provision(spec=barber_spec)
    before = snapshot("barber")

    again = tenant_provision(spec=barber_spec)

    assert not again.created
    assert again.changes == []
    assert snapshot("barber") == before


def test_it_updates_an_existing_tenant_in_place(provisioned, barber_spec):
    tenant_provision(spec=barber_spec)
    barber_spec["name"] = "Sharp Barbers & Co"
    barber_spec["agent"]["greeting"] = "Hello from Sharp!"
    barber_spec["hours"] = {"tue": [["08:00", "16:00"]]}
    barber_spec["phone_numbers"] = ["+44 20 7946 0002"]
    barber_spec["services"][0]["price"] = "17.00"
    barber_spec["services"].append({"name": "Shave", "duration_minutes": 30})

    result = tenant_provision(spec=barber_spec)

    assert not result.created
    tenant = Tenant.objects.get(schema_name="barber")
    assert tenant.name == "Sharp Barbers & Co"
    assert list(tenant.phone_numbers.values_list("number", flat=True)) == ["+442079460002"]
    assert not PhoneNumber.objects.filter(number="+442079460001").exists()
    with schema_context("barber"):
        assert AgentSettings.objects.get().greeting == "Hello from Sharp!"
        assert [(h.weekday, h.opens) for h in OpeningHours.objects.all()] == [(1, dt.time(8))]
        assert Service.objects.get(name="Beard Trim").price == Decimal("17.00")
        assert Service.objects.filter(name="Shave", active=True).exists()


BAD_SPECS = [
    ("unknown key", lambda s: s.update(colour="blue"), "colour"),
    ("unknown nested key", lambda s: s["agent"].update(mood="happy"), "agent.mood"),
    ("number of another tenant", lambda s: s.update(phone_numbers=["+1 555 010 0001"]), "phone_numbers[0]"),
    ("invalid number", lambda s: s.update(phone_numbers=["12"]), "phone_numbers[0]"),
    ("invalid timezone", lambda s: s.update(timezone="Mars/Olympus"), "timezone"),
    ("bad slug", lambda s: s.update(slug="Bad Slug!"), "slug"),
    ("reserved slug", lambda s: s.update(slug="public"), "slug"),
    ("overlapping hours", lambda s: s["hours"].update(mon=[["09:00", "13:00"], ["12:00", "18:00"]]), "hours.mon"),
    ("closing before opening", lambda s: s["hours"].update(mon=[["18:00", "09:00"]]), "hours.mon[0]"),
    ("domain of another tenant", lambda s: s.update(domain="salon.localhost"), "domain"),
    ("bad transfer target", lambda s: s["escalation"].update(transfer_to="call Bob"), "escalation.transfer_to"),
    ("transfer to its own number (a loop)", lambda s: s["escalation"].update(transfer_to="+44 20 7946 0001"),
     "escalation.transfer_to"),
    ("transfer to another Soniq number", lambda s: s["escalation"].update(transfer_to="+1 555 010 0001"),
     "escalation.transfer_to"),
    ("ringing timeout too short", lambda s: s["agent"].update(transfer_ringing_seconds=2), "agent.transfer_ringing_seconds"),
    ("unknown transfer fallback", lambda s: s["agent"].update(escalation_fallback="voicemail"), "agent.escalation_fallback"),
    ("warning longer than the call", lambda s: s["agent"].update(max_call_seconds=100), "agent.first_warning_seconds"),
    ("negative price", lambda s: s["menu"][0].update(price="-1"), "menu[0].price"),
    ("zero capacity", lambda s: s["services"][0].update(capacity=0), "services[0].capacity"),
    ("short password", lambda s: s["owner"].update(password="123"), "owner.password"),
    ("bad closure date", lambda s: s.update(closures=["2026-02-30"]), "closures[0]"),
    ("missing name", lambda s: s.pop("name"), "name"),
    ("a language no speech provider supports", lambda s: s["agent"].update(language="tlh"), "agent.language"),
    ("a language whose translation is incomplete", lambda s: s["agent"].update(language="de"), "agent.language"),
    ("not a country code", lambda s: s.update(country="UK"), "country"),
    ("a number of another country", lambda s: s.update(country="US", phone_numbers=["020 7946 0001"]), "phone_numbers[0]"),
]


@pytest.mark.parametrize(("case", "break_spec", "field"), BAD_SPECS, ids=[case for case, _, _ in BAD_SPECS])
def test_a_bad_spec_names_the_field_and_creates_nothing(provisioned, barber_spec, case, break_spec, field):
    break_spec(barber_spec)

    with pytest.raises(TenantSpecError) as error:
        tenant_provision(spec=barber_spec)

    assert error.value.field == field
    assert not Tenant.objects.filter(schema_name=barber_spec.get("slug")).exclude(schema_name__in=["salon", "pizzeria", "public"]).exists()
    assert not PhoneNumber.objects.filter(number="+442079460001").exists()


def test_a_transfer_back_to_the_businesss_own_number_is_refused_as_a_loop(provisioned, barber_spec):
    barber_spec["escalation"]["transfer_to"] = "+44 20 7946 0001"

    with pytest.raises(TenantSpecError) as error:
        tenant_provision(spec=barber_spec)

    assert "+442079460001 is a number Soniq answers" in str(error.value) and "loop" in str(error.value)


def test_the_transfer_ringing_timeout_and_fallback_are_written_from_the_spec(provisioned, barber_spec):
    barber_spec["agent"].update(transfer_ringing_seconds=12, escalation_fallback="message", transfer_text_staff=True)

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        agent = AgentSettings.objects.get()
        assert (agent.transfer_ringing_seconds, agent.escalation_fallback, agent.transfer_text_staff) == (
            12, "message", True)


def test_a_british_spec_may_give_its_numbers_the_british_way(provisioned, barber_spec):
    barber_spec.update(country="gb", phone_numbers=["020 7946 0001"])
    barber_spec["escalation"]["transfer_to"] = "07700 900999"

    tenant_provision(spec=barber_spec)

    tenant = Tenant.objects.get(schema_name="barber")
    assert tenant.country == "GB"
    assert list(tenant.phone_numbers.values_list("number", flat=True)) == ["+442079460001"]
    with schema_context("barber"):
        assert AgentSettings.objects.get().transfer_to == "tel:+447700900999"


def test_a_bad_update_changes_nothing(provisioned, barber_spec):
    tenant_provision(spec=barber_spec)
    before = snapshot("barber")
    barber_spec["name"] = "Renamed"
    barber_spec["menu"][0]["price"] = "abc"

    with pytest.raises(TenantSpecError):
        tenant_provision(spec=barber_spec)

    assert snapshot("barber") == before


def test_the_command_reads_yaml_and_json_and_reports_errors(provisioned, barber_spec, tmp_path):
    yaml_path = tmp_path / "barber.yaml"
    yaml_path.write_text(yaml.safe_dump(barber_spec))
    out = StringIO()
    call_command("provision_tenant", str(yaml_path), stdout=out)
    assert "Created tenant barber" in out.getvalue()

    json_path = tmp_path / "barber.json"
    json_path.write_text(json.dumps(barber_spec))
    out = StringIO()
    call_command("provision_tenant", str(json_path), stdout=out)
    assert "Unchanged tenant barber" in out.getvalue()

    barber_spec["timezone"] = "Nowhere/Else"
    json_path.write_text(json.dumps(barber_spec))
    with pytest.raises(CommandError, match="timezone"):
        call_command("provision_tenant", str(json_path))


def test_deleting_a_tenant_drops_its_schema_and_frees_its_numbers(provisioned, barber_spec):

    tenant_provision(spec=barber_spec)
    tenant = Tenant.objects.get(schema_name="barber")

    call_command("deprovision_tenant", "barber", "--yes", stdout=StringIO())

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'barber'")
        assert cursor.fetchone()[0] == 0
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not Domain.objects.filter(domain="barber.localhost").exists()
    assert not PhoneNumber.objects.filter(number="+442079460001").exists()
    # The number is free again: another tenant can take it.
    barber_spec.update(slug="barber2", domain="barber2.localhost")
    assert tenant_provision(spec=barber_spec).created


TYPOS = [
    ("a top-level key", lambda s: s.update(timezon=s.pop("timezone")), "timezon", "timezone"),
    ("a section's key", lambda s: s["agent"].update(greting=s["agent"].pop("greeting")), "agent.greting", "greeting"),
    ("a list item's key", lambda s: s["services"][0].update(duraton_minutes=20), "services[0].duraton_minutes",
     "duration_minutes"),
    ("a weekday", lambda s: s["escalation"]["hours"].update(mnday=[["09:00", "17:00"]]), "escalation.hours.mnday", "mon"),
    ("a closure's key", lambda s: s["closures"][1].update(reasn="Boxing Day"), "closures[1].reasn", "reason"),
    ("a follow-up's key", lambda s: s.update(webhooks=[{"url": "https://crm.example/hook", "event": []}]),
     "webhooks[0].event", "events"),
]


@pytest.mark.parametrize(("case", "break_spec", "field", "meant"), TYPOS, ids=[case for case, *_ in TYPOS])
def test_a_typo_in_a_key_is_refused_with_its_path_and_creates_nothing(provisioned, barber_spec, tmp_path, case,
                                                                     break_spec, field, meant):
    break_spec(barber_spec)
    path = tmp_path / "barber.yaml"
    path.write_text(yaml.safe_dump(barber_spec))

    with pytest.raises(CommandError) as refused:
        call_command("provision_tenant", str(path))

    message = str(refused.value)
    assert f"{field}: unknown key (allowed: " in message
    assert meant in message.split("allowed: ")[1]  # the key that was meant is named
    assert not Tenant.objects.filter(schema_name="barber").exists()


def test_a_price_the_menu_cannot_store_is_refused_with_its_path(provisioned, barber_spec):
    # The menu's price column holds 999999.99 (a service's holds more): the spec's range is the column's.
    barber_spec["menu"][0]["price"] = "1000000.00"

    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)

    assert (refused.value.field, refused.value.message) == (
        "menu[0].price", "must be a price from 0 to 999999.99 with at most 2 decimals.")
    barber_spec["menu"][0]["price"] = "999999.99"
    tenant_provision(spec=barber_spec)
    with schema_context("barber"):
        assert MenuItem.objects.get().price == Decimal("999999.99")


def test_a_final_warning_the_admin_would_take_is_taken_from_a_spec_too(provisioned, barber_spec):
    # The spec's defaults and ranges are the model's: what the spec leaves out is the model's default.
    barber_spec["agent"].update(first_warning_seconds=60, final_warning_seconds=1)

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        agent = AgentSettings.objects.get()
    assert (agent.first_warning_seconds, agent.final_warning_seconds) == (60, 1)
    assert agent.callback_promise == AgentSettings._meta.get_field("callback_promise").default
