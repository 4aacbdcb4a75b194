"""The voice adapter of the order write: the items a caller dictated (spoken names, JSON quantities)
become menu items for `orders.services.order_create`, and the order it returns becomes the sentence
the caller hears. `orders.services` does the writing and knows nothing of speech."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from core import clock
from core.errors import DomainError, ToolOutcome
from core.phrasing import spoken_list, spoken_time
from core.reading import moment_words, money_words, phone_words
from orders import services
from orders.models import Order
from orders.selectors import menu_item_match, menu_load
from tenants.selectors import customer_phone_number, tenant_timezone


def create_order(*, items: list[dict], customer_name: str, customer_phone: str, fulfillment: str = "pickup",
                 delivery_address: str = "", notes: str = "", call=None, now: dt.datetime | None = None) -> ToolOutcome:
    """create_order: place the order the caller dictated; each item is `{"name": spoken name,
    "quantity": JSON integer, "notes": optional}`.

    Raises `DomainError` (422) with a sentence the agent can say, nothing written: `invalid_item`,
    `unknown_item` (from the words), and every refusal of `orders.services.order_create` (`closed`
    first: a closed business is the news, whatever was ordered)."""
    now = now or clock.now()
    tz = tenant_timezone()
    lines = order_lines_match(items=items, now=now)
    order = services.order_create(lines=lines, customer_name=customer_name, customer_phone=customer_phone,
                                  fulfillment=fulfillment, delivery_address=delivery_address, notes=notes, call=call,
                                  now=now)
    when = spoken_time(order.estimated_ready_at.astimezone(tz), now=now.astimezone(tz))
    # In words: "21.80" is read "twenty-one point eight" by some voices, and the currency as its code.
    total = money_words(order.total, order.currency)
    if order.fulfillment == Order.Fulfillment.DELIVERY:
        message = _("Your order number {number} comes to {total} and should arrive {when}.")
    else:
        message = _("Your order number {number} comes to {total} and will be ready for pickup {when}.")
    message = message.format(number=order.pk, total=total, when=when)
    result = {**order_result(order), "total_spoken": total,
              "estimated_ready_spoken": moment_words(order.estimated_ready_at.astimezone(tz),
                                                     today=now.astimezone(tz).date()),
              "customer_phone_spoken": phone_words(order.customer_phone)}
    return ToolOutcome(message=message, result=result)


def order_lines_match(*, items: list[dict], now: dt.datetime) -> list[services.OrderLineRequest]:
    """The dictated items as menu lines, or the refusal a caller hears (`closed` first: a closed
    business is the news, whatever was ordered)."""
    services.order_taking_check(now=now)
    if not isinstance(items, list) or not items:
        raise DomainError("empty_order", _("What would you like to order?"))
    if len(items) > services.MAX_ORDER_LINES:
        raise DomainError(
            "too_many_lines",
            _("That's more than {max} different items for one order; could we split it up?").format(
                max=services.MAX_ORDER_LINES),
            details={"lines": len(items), "max": services.MAX_ORDER_LINES},
        )
    menu = menu_load()
    lines: list[services.OrderLineRequest] = []
    for raw in items:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise DomainError("invalid_item", _("Which item from the menu would you like?"))
        menu_item = menu_item_match(spoken_name=raw["name"], menu=menu)
        quantity = services.order_quantity_check(raw.get("quantity"), name=menu_item.name)
        line_notes = services.text_field_check(
            raw.get("notes"), max_length=500, code="invalid_notes",
            message=_("The note for the {item} is too long; could you say it more briefly?").format(item=menu_item.name))
        lines.append(services.OrderLineRequest(menu_item=menu_item, quantity=quantity, notes=line_notes))

    return lines


def order_read_back(*, items: list[dict], customer_name: str, customer_phone: str, fulfillment: str = "pickup",
                    delivery_address: str = "", now: dt.datetime | None = None) -> DomainError:
    """create_order before the caller confirmed it: 422 `not_confirmed`, whose sentence reads the
    order back (each item with its quantity, pickup or the address, the name, the phone number digit
    by digit and the total in words) and asks the caller to confirm; nothing is written. What cannot
    be ordered as said is refused first, with its own sentence."""
    now = now or clock.now()
    lines = order_lines_match(items=items, now=now)
    name = " ".join(customer_name.split()) if isinstance(customer_name, str) else ""
    if not name:
        raise DomainError("invalid_name", _("What name should I put the order under?"))
    phone = customer_phone_number(customer_phone)
    total = sum(((line.menu_item.price * line.quantity).quantize(services.CENTS, ROUND_HALF_UP) for line in lines),
                Decimal("0.00"))
    ordered = spoken_list([_("{quantity} {item}").format(quantity=line.quantity, item=line.menu_item.name)
                           for line in lines])
    address = " ".join(delivery_address.split()) if isinstance(delivery_address, str) else ""
    if fulfillment == Order.Fulfillment.DELIVERY and address:
        sentence = _("Just to confirm: {items}, delivered to {address}, under the name {name}, and your phone number "
                     "is {phone}. That comes to {total}. Is that right?")
    else:
        sentence = _("Just to confirm: {items}, for pickup, under the name {name}, and your phone number is {phone}. "
                     "That comes to {total}. Is that right?")
    spoken_total = money_words(total, lines[0].menu_item.currency)
    message = sentence.format(items=ordered, address=address, name=name, phone=phone_words(phone), total=spoken_total)
    return DomainError("not_confirmed", message, details={"total": str(total), "total_spoken": spoken_total,
                                                          "customer_phone_spoken": phone_words(phone)})


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
