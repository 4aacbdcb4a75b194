"""order_status over HTTP: the caller's own orders of the last day, and nobody else's."""
import datetime as dt
from decimal import Decimal

import pytest
from django_tenants.utils import tenant_context

from orders.models import Order
from orders.voice import create_order
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

# Friday 13 March 2026, 19:00 in Berlin: open.
FRIDAY_EVENING = dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC)
OTHER_PHONE = "+15550107777"


@pytest.fixture
def pizzeria_now(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)


def ordered(*, phone: str = CALLER, hours_ago: float = 0.25) -> int:
    with tenant_context(tenant_named("pizzeria")):
        order_id = create_order(items=[{"name": "margarita", "quantity": 2}], customer_name="Ann", customer_phone=phone,
                                now=FRIDAY_EVENING).result["order_id"]
        Order.objects.filter(pk=order_id).update(created=FRIDAY_EVENING - dt.timedelta(hours=hours_ago))
    return order_id


def test_it_tells_the_caller_the_status_of_their_orders_of_the_last_day(api_server, pizzeria_now):
    mine = ordered()
    ordered(phone=OTHER_PHONE)
    ordered(hours_ago=30)  # yesterday's dinner
    with tenant_context(tenant_named("pizzeria")):
        Order.objects.filter(pk=mine).update(status=Order.Status.PREPARING)
    _call, token = a_call(tenant_named("pizzeria"))

    response = tool(api_server, token, "order_status", {})

    assert response.status_code == 200, response.text
    (order,) = response.json()["result"]["orders"]
    assert (order["order_id"], order["status"], order["lines"]) == (mine, "preparing", [{"name": "Margherita", "quantity": 2}])
    assert Decimal(order["total"]) > 0 and order["estimated_ready_at"].endswith("+01:00")
    assert response.json()["message"].startswith(f"Order {mine} is being prepared; it should be ready at ")


@pytest.mark.parametrize("caller_number", [OTHER_PHONE, "anonymous"])
def test_another_caller_hears_of_no_order(api_server, pizzeria_now, caller_number):
    ordered()
    _call, token = a_call(tenant_named("pizzeria"), caller_number=caller_number)
    response = tool(api_server, token, "order_status", {})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"orders": []}
