"""One currency per business: a menu item or service added in the admin is priced in the business's
currency (shown beside the price, never chosen), so an order that mixes it with the rest goes through."""
import pytest
from django_tenants.utils import schema_context, tenant_context

from backoffice.tests.factories import PIZZERIA_HOST, PIZZERIA_OWNER, owner_client
from bookings.models import Service
from orders.models import MenuItem, Order
from tenants.models import Tenant
from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING
from voiceapi.tests.voice_api import a_call, tenant_named, tool

MENU_ITEM = {"name": "Calzone", "category": "Pizza", "description": "", "aliases": "folded pizza", "price": "13.00",
             "available": "on"}


def test_it_shows_the_business_currency_and_offers_no_choice(pizzeria_admin):
    page = pizzeria_admin.get("/admin/orders/menuitem/add/").content.decode()

    assert "Price (EUR)" in page
    assert 'name="currency"' not in page


def test_it_prices_a_new_menu_item_in_the_business_currency(pizzeria_admin):
    response = pizzeria_admin.post("/admin/orders/menuitem/add/", {**MENU_ITEM, "currency": "USD"})

    assert response.status_code == 302
    with schema_context("pizzeria"):
        assert MenuItem.objects.get(name="Calzone").currency == "EUR"


def test_it_prices_a_new_service_in_the_business_currency(salon_admin, salon):
    Tenant.objects.filter(pk=salon.pk).update(currency="CAD")
    response = salon_admin.post("/admin/bookings/service/add/", {
        "name": "Fringe Trim", "aliases": "", "description": "", "duration_minutes": "15", "buffer_minutes": "0",
        "capacity": "1", "price": "12.00", "active": "on"})

    assert response.status_code == 302
    with schema_context("salon"):
        assert Service.objects.get(name="Fringe Trim").currency == "CAD"


@pytest.fixture
def calzone_on_the_menu(committed_db):
    # Committed (the live API server must see it), so not through the transactional `pizzeria_admin`.
    pizzeria_admin = owner_client("pizzeria", PIZZERIA_HOST, PIZZERIA_OWNER[0])
    assert pizzeria_admin.post("/admin/orders/menuitem/add/", MENU_ITEM).status_code == 302
    yield
    with schema_context("pizzeria"):
        Order.objects.filter(lines__menu_item__name="Calzone").delete()
        MenuItem.objects.filter(name="Calzone").delete()


def test_an_order_mixing_the_new_item_with_the_menu_goes_through(api_server, calzone_on_the_menu, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    call, token = a_call(tenant_named("pizzeria"))

    response = tool(api_server, token, "create_order", {"confirmed": True,
        "items": [{"name": "calzone", "quantity": 1}, {"name": "margherita", "quantity": 1}],
        "customer_name": "Ann Smith", "customer_phone": "+49 30 901820"})

    assert response.status_code == 200, response.text
    assert response.json()["result"]["total"] == "22.50" and response.json()["result"]["currency"] == "EUR"
    with tenant_context(Tenant.objects.get(schema_name="pizzeria")):
        assert Order.objects.get(call_id=call.pk).currency == "EUR"


def test_the_operator_changing_the_currency_reprices_every_item(operator_admin, pizzeria):
    page = operator_admin.get(f"/admin/tenants/tenant/{pizzeria.pk}/change/").content.decode()
    assert 'name="currency"' in page
    data = {"name": pizzeria.name, "timezone": pizzeria.timezone, "country": pizzeria.country, "currency": "CHF",
            **{f"{prefix}-{key}": value for prefix in ("domains", "phone_numbers")
               for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}}
    response = operator_admin.post(f"/admin/tenants/tenant/{pizzeria.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context("pizzeria"):
        assert set(MenuItem.objects.values_list("currency", flat=True)) == {"CHF"}
