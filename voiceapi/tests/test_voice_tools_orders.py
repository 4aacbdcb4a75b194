"""create_order over HTTP: the order in the pizzeria's schema, its errors, and idempotent retries."""
import datetime as dt
import threading
import uuid

import pytest
import requests
from django_tenants.utils import tenant_context

from orders.models import Order
from voiceapi.tests.voice_api import a_call, assert_error, tenant_named, tool

# Friday 13 March 2026, 19:00 in Berlin: open (Fri 11:30-23:30).
FRIDAY_EVENING = dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC)
# Monday 9 March 2026, 16:00 in Berlin: between lunch (until 14:30) and dinner (from 17:00).
MONDAY_AFTERNOON = dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)


def an_order(**overrides):
    return {"items": [{"name": "margarita", "quantity": 2, "notes": "extra basil"}, {"name": "coke", "quantity": 1}],
            "customer_name": "Ann Smith", "customer_phone": "+1 555 765 4321", "confirmed": True, **overrides}


@pytest.fixture
def pizzeria_call(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    return a_call(tenant_named("pizzeria"))


def orders_of(call):
    with tenant_context(tenant_named("pizzeria")):
        return list(Order.objects.filter(call_id=call.pk).prefetch_related("lines"))


def test_it_places_the_order_with_lines_and_a_total(api_server, pizzeria_call):
    call, token = pizzeria_call
    response = tool(api_server, token, "create_order", an_order())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    result = body["result"]
    assert result["total"] == "21.80" and result["currency"] == "EUR"
    assert [(line["name"], line["quantity"]) for line in result["lines"]] == [("Margherita", 2), ("Coca-Cola", 1)]
    assert result["estimated_ready_at"] == "2026-03-13T19:20:00+01:00"
    assert "twenty-one euro and eighty cents" in body["message"]
    (order,) = orders_of(call)
    assert order.pk == result["order_id"] and order.total == order.total.__class__("21.80")
    assert order.customer_phone == "+15557654321"


def test_it_names_the_closest_items_for_one_it_does_not_have(api_server, pizzeria_call):
    call, token = pizzeria_call
    error = assert_error(tool(api_server, token, "create_order", an_order(items=[{"name": "hawaii pizza", "quantity": 1}])),
                         422, "unknown_item")
    assert "closest" in error["details"]
    assert orders_of(call) == []


@pytest.mark.parametrize("quantity", [0, -1, 100, 999_999])
def test_it_refuses_quantities_outside_1_to_99(api_server, pizzeria_call, quantity):
    call, token = pizzeria_call
    assert_error(tool(api_server, token, "create_order", an_order(items=[{"name": "Margherita", "quantity": quantity}])),
                 422, "invalid_quantity")
    assert orders_of(call) == []


def test_it_refuses_orders_while_closed(api_server, committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_AFTERNOON)
    call, token = a_call(tenant_named("pizzeria"))
    error = assert_error(tool(api_server, token, "create_order", an_order()), 422, "closed")
    assert "17:00" in error["message"]


def test_the_same_idempotency_key_twice_places_one_order(api_server, pizzeria_call):
    call, token = pizzeria_call
    key = str(uuid.uuid4())
    first = tool(api_server, token, "create_order", an_order(), idempotency_key=key)
    retry = tool(api_server, token, "create_order", an_order(), idempotency_key=key)

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(orders_of(call)) == 1


def test_a_new_key_places_a_new_order(api_server, pizzeria_call):
    call, token = pizzeria_call
    tool(api_server, token, "create_order", an_order(), idempotency_key="a")
    tool(api_server, token, "create_order", an_order(), idempotency_key="b")
    tool(api_server, token, "create_order", an_order())
    assert len(orders_of(call)) == 3


def test_the_same_key_for_a_different_order_is_refused(api_server, pizzeria_call):
    call, token = pizzeria_call
    tool(api_server, token, "create_order", an_order(), idempotency_key="k")
    changed = an_order(items=[{"name": "Diavola", "quantity": 1}])
    assert_error(tool(api_server, token, "create_order", changed, idempotency_key="k"), 422, "idempotency_key_reused")
    assert len(orders_of(call)) == 1


def test_identical_retries_arriving_together_place_one_order(api_server, pizzeria_call):
    call, token = pizzeria_call
    key, barrier, responses = str(uuid.uuid4()), threading.Barrier(10), []

    def retry():
        barrier.wait()
        responses.append(requests.post(f"{api_server.url}/internal/voice-tools/create_order", json=an_order(),
                                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=30))

    threads = [threading.Thread(target=retry) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [response.status_code for response in responses] == [200] * 10
    assert all(response.json() == responses[0].json() for response in responses)
    assert sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == 9
    assert len(orders_of(call)) == 1
