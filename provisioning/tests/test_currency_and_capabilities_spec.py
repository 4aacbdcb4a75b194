"""The spec's `currency` (one per business) and `capabilities` (bookings, orders or both)."""
import pytest
from django_tenants.utils import schema_context

from bookings.models import Service
from orders.models import MenuItem
from provisioning.services import TenantSpecError, tenant_provision
from tenants.agent.models import AgentSettings
from tenants.models import Tenant


def test_a_new_business_prices_in_its_countrys_currency(provisioned, barber_spec):
    for entry in barber_spec["services"] + barber_spec["menu"]:
        entry.pop("currency")
    barber_spec["country"] = "DE"
    barber_spec["phone_numbers"] = ["+49 30 901820"]
    barber_spec["escalation"]["transfer_to"] = "+49 30 901821"

    tenant_provision(spec=barber_spec)

    assert Tenant.objects.get(schema_name="barber").currency == "EUR"
    with schema_context("barber"):
        assert {row.currency for row in [*Service.objects.all(), *MenuItem.objects.all()]} == {"EUR"}


def test_the_spec_currency_is_the_one_every_price_is_in(provisioned, barber_spec):
    for entry in barber_spec["services"] + barber_spec["menu"]:
        entry.pop("currency")
    barber_spec["currency"] = "usd"

    tenant_provision(spec=barber_spec)

    assert Tenant.objects.get(schema_name="barber").currency == "USD"
    with schema_context("barber"):
        assert set(MenuItem.objects.values_list("currency", flat=True)) == {"USD"}


def test_it_refuses_an_item_priced_in_another_currency(provisioned, barber_spec):
    barber_spec["currency"] = "GBP"
    barber_spec["menu"].append({"name": "Tea", "price": "2.00", "currency": "USD"})

    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)

    assert refused.value.field == "menu[1].currency"
    assert "GBP" in refused.value.message
    assert not Tenant.objects.filter(schema_name="barber").exists()


def test_it_refuses_a_made_up_currency(provisioned, barber_spec):
    barber_spec["currency"] = "XYZ"
    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)
    assert refused.value.field == "currency"


@pytest.mark.parametrize(("services", "menu", "expected"), [
    (True, False, "bookings"), (False, True, "orders"), (True, True, "both"),
])
def test_a_new_business_does_what_its_spec_sells(provisioned, barber_spec, services, menu, expected):
    if not services:
        barber_spec.pop("services")
    if not menu:
        barber_spec.pop("menu")

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.get().capabilities == expected


def test_the_spec_chooses_the_capabilities_and_a_rerun_without_them_keeps_them(provisioned, barber_spec):
    barber_spec["capabilities"] = "bookings"
    tenant_provision(spec=barber_spec)
    barber_spec.pop("capabilities")
    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        assert AgentSettings.objects.get().capabilities == "bookings"


def test_it_refuses_unknown_capabilities(provisioned, barber_spec):
    barber_spec["capabilities"] = "haircuts"
    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)
    assert refused.value.field == "capabilities"


def test_a_new_business_sends_its_alerts_to_the_owners_email(provisioned, barber_spec):
    from notifications.models import NotificationSettings

    tenant_provision(spec=barber_spec)

    with schema_context("barber"):
        settings_row = NotificationSettings.objects.get()
        assert settings_row.emails == ["owner@barber.example"]
        assert "booking_created" in settings_row.events and "callback_requested" in settings_row.events
