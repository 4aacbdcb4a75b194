"""A business sees the sections it uses (bookings, orders or both: AgentSettings.capabilities), and
its agent gets the tools of those, whatever happens to be in its tables."""
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.test_admin_agent_settings import DEMO_HOURS, form_data, settings_page
from orders.models import MenuItem
from tenants.agent.models import AgentSettings
from testing.demo_tenants import SALON_NUMBER
from voiceapi.tests.voice_api import started_call

ORDER_SECTIONS = ("/admin/orders/order/", "/admin/orders/menuitem/", "/admin/orders/orderingpolicy/")
BOOKING_SECTIONS = ("/admin/bookings/booking/", "/admin/bookings/service/", "/admin/bookings/bookingpolicy/")


def test_a_salon_sees_no_orders_menu_or_ordering_policy(salon_admin):
    page = salon_admin.get("/admin/").content.decode()

    assert "/admin/bookings/booking/" in page
    assert not [section for section in ORDER_SECTIONS if section in page]


def test_a_pizzeria_sees_no_bookings_or_services(pizzeria_admin):
    page = pizzeria_admin.get("/admin/").content.decode()

    assert "/admin/orders/order/" in page
    assert not [section for section in BOOKING_SECTIONS if section in page]


def test_a_salons_call_filters_offer_no_ordered(salon_admin):
    page = salon_admin.get("/admin/calls/call/").content.decode()

    assert "?outcome=booked" in page and "Made a booking" in page
    assert "?outcome=ordered" not in page and "Placed an order" not in page


def test_an_owner_who_switches_to_both_sees_both(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, capabilities="both")

    assert salon_admin.post(url, data).status_code == 302

    page = salon_admin.get("/admin/").content.decode()
    assert "/admin/orders/order/" in page and "/admin/bookings/booking/" in page


@pytest.fixture
def salon_with_a_stray_menu_item(committed_db):
    with schema_context("salon"):
        MenuItem.objects.create(name="Shampoo", price=Decimal("12.00"))
    yield
    with schema_context("salon"):
        MenuItem.objects.filter(name="Shampoo").delete()
        AgentSettings.objects.update(capabilities="bookings")


def test_a_menu_item_added_by_mistake_gives_a_salons_agent_no_ordering_tools(api_server, salon_with_a_stray_menu_item):
    tools = started_call(api_server, called_number=SALON_NUMBER)["config"]["tools"]

    assert "check_availability" in tools
    assert "create_order" not in tools and "order_status" not in tools


def test_the_capability_chosen_gives_the_agent_its_tools(api_server, salon_with_a_stray_menu_item):
    with schema_context("salon"):
        AgentSettings.objects.update(capabilities="both")

    tools = started_call(api_server, called_number=SALON_NUMBER)["config"]["tools"]

    assert "check_availability" in tools and "create_order" in tools
