"""Everything that follows an order being placed or moved on in the kitchen, heard where people hear
it (the customer's text, the webhook), each through the door its user uses."""
import pytest
from django_tenants.utils import tenant_context

from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING, an_order
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool


@pytest.fixture
def pizzeria_open(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)


def test_an_order_taken_on_the_phone_texts_the_caller_and_reaches_the_webhook(followups, api_server, pizzeria_open):
    call, token = a_call(tenant_named("pizzeria"))
    heard = followups.listen("pizzeria", customer=CALLER)

    placed = tool(api_server, token, "create_order", an_order())

    assert placed.status_code == 200, placed.text
    # A new order is news to the kitchen: the new-order alert reaches the owner and the staff.
    assert heard.settled() == {"customer text", "owner email", "staff text", "webhook order.created"}
    [payload] = heard.webhooks("order.created")
    assert payload["data"]["order_id"] == placed.json()["result"]["order_id"] and payload["data"]["call_id"] == str(call.pk)
    assert "received - 2 x Margherita, 1 x Coca-Cola. Total 21.80 EUR" in heard.texts(CALLER)[0]


def test_the_kitchen_marking_an_order_ready_texts_the_customer_and_nothing_else(followups, pizzeria_open):
    from backoffice.tests.factories import PIZZERIA_HOST, PIZZERIA_OWNER, owner_client
    from orders.models import Order
    from orders.voice import create_order

    with tenant_context(tenant_named("pizzeria")):
        order_id = create_order(items=[{"name": "Diavola", "quantity": 1}], customer_name="Anna",
                                customer_phone=CALLER, now=FRIDAY_EVENING).result["order_id"]
        Order.objects.filter(pk=order_id).update(status=Order.Status.PREPARING)
    admin = owner_client("pizzeria", PIZZERIA_HOST, PIZZERIA_OWNER[0])
    heard = followups.listen("pizzeria", customer=CALLER)

    response = admin.post(f"/admin/orders/order/{order_id}/status/ready/")

    assert response.status_code == 302
    assert heard.settled() == {"customer text"}
    assert heard.texts(CALLER) == [f"Luigi's Pizzeria: your order #{order_id} is ready for pickup. See you soon!"]
