"""The voice adapter of the order write: the items a caller dictated (spoken names, JSON quantities)
become menu items for `orders.services.order_create`, and the order it returns becomes the sentence
the caller hears. `orders.services` does the writing and knows nothing of speech."""
from __future__ import annotations

import datetime as dt
from typing import Any

from core import clock
from core.errors import DomainError, ToolOutcome
from core.phrasing import spoken_money, spoken_time
from orders import services
from orders.models import Order
from orders.selectors import menu_item_match, menu_load
from tenants.selectors import tenant_timezone


def create_order(*, items: list[dict], customer_name: str, customer_phone: str, fulfillment: str = "pickup",
                 delivery_address: str = "", notes: str = "", call=None, now: dt.datetime | None = None) -> ToolOutcome:
    """create_order: place the order the caller dictated; each item is `{"name": spoken name,
    "quantity": JSON integer, "notes": optional}`.

    Raises `DomainError` (422) with a sentence the agent can say, nothing written: `invalid_item`,
    `unknown_item` (from the words), and every refusal of `orders.services.order_create` (`closed`
    first: a closed business is the news, whatever was ordered)."""
    now = now or clock.now()
    tz = tenant_timezone()
    services.order_taking_check(now=now)
    if not isinstance(items, list) or not items:
        raise DomainError("empty_order", "What would you like to order?")
    if len(items) > services.MAX_ORDER_LINES:
        raise DomainError(
            "too_many_lines",
            f"That's more than {services.MAX_ORDER_LINES} different items for one order; could we split it up?",
            details={"lines": len(items), "max": services.MAX_ORDER_LINES},
        )
    menu = menu_load()
    lines: list[services.OrderLineRequest] = []
    for raw in items:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise DomainError("invalid_item", "Which item from the menu would you like?")
        menu_item = menu_item_match(spoken_name=raw["name"], menu=menu)
        quantity = services.order_quantity_check(raw.get("quantity"), name=menu_item.name)
        line_notes = services.text_field_check(
            raw.get("notes"), max_length=500, code="invalid_notes",
            message=f"The note for the {menu_item.name} is too long; could you say it more briefly?")
        lines.append(services.OrderLineRequest(menu_item=menu_item, quantity=quantity, notes=line_notes))

    order = services.order_create(lines=lines, customer_name=customer_name, customer_phone=customer_phone,
                                  fulfillment=fulfillment, delivery_address=delivery_address, notes=notes, call=call,
                                  now=now)
    when = spoken_time(order.estimated_ready_at.astimezone(tz), now=now.astimezone(tz))
    total = spoken_money(order.total, order.currency)
    if order.fulfillment == Order.Fulfillment.DELIVERY:
        message = f"Your order number {order.pk} comes to {total} and should arrive {when}."
    else:
        message = f"Your order number {order.pk} comes to {total} and will be ready for pickup {when}."
    return ToolOutcome(message=message, result=order_result(order))


def order_result(order: Order) -> dict[str, Any]:
    """What the agent's tool returns about an order: its lines, total (Decimal as a string) and ready time."""
    return {
        "order_id": order.pk,
        "lines": [
            {"name": line.name, "quantity": line.quantity, "unit_price": str(line.unit_price),
             "line_total": str(line.line_total), "notes": line.notes}
            for line in order.lines.order_by("pk")
        ],
        "total": str(order.total),
        "currency": order.currency,
        "fulfillment": order.fulfillment,
        "estimated_ready_at": order.estimated_ready_at.astimezone(tenant_timezone()).isoformat(),
    }
