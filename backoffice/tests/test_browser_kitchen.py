"""The kitchen's open orders keep themselves current: a new order appears without anyone reloading,
with a chime when the kitchen turned it on."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from backoffice.admin.orders import OrderAdmin
from backoffice.tests.browser import log_in
from backoffice.tests.factories import PIZZERIA_HOST, PIZZERIA_OWNER, order_make

pytestmark = pytest.mark.browser


def test_a_new_order_appears_on_its_own_with_a_chime(api_server, committed_db, page, monkeypatch):
    monkeypatch.setattr(OrderAdmin, "kitchen_poll_seconds", 0.5)
    with schema_context("pizzeria"):
        order_make(items=[("Margherita", 1)], customer_name="Luca Rossi")
    base = api_server.url_for_host(PIZZERIA_HOST)
    log_in(page, base, *PIZZERIA_OWNER)
    page.goto(f"{base}/admin/orders/order/")
    page.click("#soniq-chime")
    assert page.locator("#soniq-chime").inner_text() == "Chime on new orders: on"

    with schema_context("pizzeria"):
        order_make(items=[("Diavola", 2)], customer_name="Anna Weber")

    page.wait_for_selector("#result_list >> text=Anna Weber", timeout=15_000)
    assert page.evaluate("sessionStorage.getItem('soniq-kitchen-chimed')") == "1"
    assert page.locator("#soniq-chime").inner_text() == "Chime on new orders: on"


def test_the_list_answers_what_it_polls(pizzeria_admin):
    with schema_context("pizzeria"):
        newest = order_make(items=[("Margherita", 1)])

    assert pizzeria_admin.get("/admin/orders/order/latest/").json() == {"latest": newest.pk, "open": 1}
