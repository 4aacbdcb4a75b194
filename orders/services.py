"""Writes for orders: placing an order (typed: menu items and quantities in, the `Order` out). Money is
Decimal from the menu to the total. The agent's words become these calls in `orders/voice.py`."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from core import clock
from core.after_response import followup_after_commit
from core.errors import DomainError
from core.phrasing import spoken_time
from orders import followups
from orders.models import MenuItem, Order, OrderingPolicy, OrderLine
from tenants.hours.selectors import business_is_open, next_opening_after
from tenants.selectors import customer_phone_number, tenant_timezone

MAX_ORDER_LINES = 50
MAX_QUANTITY = 99
CENTS = Decimal("0.01")


def order_quantity_check(raw: Any, *, name: str) -> int:
    """A quantity of 1 to 99, as a JSON integer only: "2" or 2.5 come from a model that misheard or
    mis-typed, and guessing what it meant would put the wrong amount on someone's bill."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_QUANTITY:
        raise DomainError(
            "invalid_quantity",
            _("How many {item} would you like? I can take between 1 and {max} of an item.").format(item=name,
                                                                                                max=MAX_QUANTITY),
            details={"item": name, "quantity": raw if isinstance(raw, int | float | str) else repr(raw)},
        )
    return raw


def text_field_check(value: Any, *, max_length: int, code: str, message: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value.strip()):
        raise DomainError(code, message)
    return value.strip()


def _closed_error(*, now: dt.datetime) -> DomainError:
    tz = tenant_timezone()
    opening = next_opening_after(at=now)
    if opening is None:
        return DomainError("closed", _("Sorry, we're closed right now and not taking orders."), details={"opens_at": None})
    opening = opening.astimezone(tz)
    return DomainError(
        "closed",
        _("Sorry, we're closed right now. We open again {when}.").format(when=spoken_time(opening, now=now.astimezone(tz))),
        details={"opens_at": opening.isoformat()},
    )


def order_taking_check(*, now: dt.datetime) -> None:
    """422 `closed` (with when it opens again) outside the opening hours: orders are taken while the
    business is open (opening hours minus closures); what is accepted before closing time is made,
    even if it is ready a little after."""
    if not business_is_open(at=now):
        raise _closed_error(now=now)


@dataclass(frozen=True)
class OrderLineRequest:
    """One line as asked for: a menu item, how many, and a note for the kitchen ("no basil")."""

    menu_item: MenuItem
    quantity: int
    notes: str = ""


def order_create(
    *,
    lines: list[OrderLineRequest],
    customer_name: str,
    customer_phone: str,
    fulfillment: str = Order.Fulfillment.PICKUP,
    delivery_address: str = "",
    notes: str = "",
    call=None,
    now: dt.datetime | None = None,
) -> Order:
    """Place an order for the current tenant and return it (its lines in `order.lines`).

    Raises `DomainError` (422), nothing written: `closed`, `empty_order`, `too_many_lines`,
    `invalid_quantity`, `mixed_currency`, `invalid_name`, `invalid_phone`, `invalid_notes`,
    `invalid_fulfillment`, `delivery_unavailable`, `address_required`.

    Lines for the same menu item with the same notes are merged into one line (quantities added;
    the merged quantity must still be at most 99), so "a margherita ... and another margherita" is
    one line of 2 on the kitchen ticket; the same item with other notes ("no basil") keeps its own
    line. Lines keep the order they were first asked for in. Money is Decimal from the menu to the
    total. Once the order has committed, `orders.followups.order_created` sends what follows it.

    The agent orders through `orders.voice.create_order`, which matches the spoken item names.
    """
    now = now or clock.now()
    tz = tenant_timezone()
    order_taking_check(now=now)
    if not lines:
        raise DomainError("empty_order", _("What would you like to order?"))
    if len(lines) > MAX_ORDER_LINES:
        raise DomainError(
            "too_many_lines",
            _("That's more than {max} different items for one order; could we split it up?").format(max=MAX_ORDER_LINES),
            details={"lines": len(lines), "max": MAX_ORDER_LINES},
        )

    # (menu item id, folded notes) -> [menu item, quantity, notes], in the order first asked for.
    wanted: dict[tuple[int, str], list[Any]] = {}
    for line in lines:
        quantity = order_quantity_check(line.quantity, name=line.menu_item.name)
        key = (line.menu_item.pk, " ".join(line.notes.casefold().split()))
        if key in wanted:
            wanted[key][1] = order_quantity_check(wanted[key][1] + quantity, name=line.menu_item.name)
        else:
            wanted[key] = [line.menu_item, quantity, line.notes]

    currencies = {menu_item.currency for menu_item, _, _ in wanted.values()}
    if len(currencies) > 1:
        raise DomainError("mixed_currency", _("Sorry, I can't put those items on one order; could we place them as separate "
                                                "orders?"),
                          details={"currencies": sorted(currencies)})
    currency = currencies.pop()

    customer_name = text_field_check(customer_name, max_length=200, code="invalid_name", required=True,
                                     message=_("What name should I put the order under?"))
    phone = customer_phone_number(customer_phone)
    notes = text_field_check(notes, max_length=2000, code="invalid_notes",
                             message=_("That note is too long; could you say it more briefly?"))

    policy = OrderingPolicy.objects.first() or OrderingPolicy()
    if fulfillment not in Order.Fulfillment.values:
        raise DomainError("invalid_fulfillment", _("Is the order for pickup or for delivery?"))
    minutes = policy.prep_minutes
    if fulfillment == Order.Fulfillment.DELIVERY:
        if not policy.delivery_available:
            raise DomainError("delivery_unavailable",
                              _("Sorry, we don't deliver at the moment; the order can be picked up instead."))
        delivery_address = text_field_check(delivery_address, max_length=500, code="address_required", required=True,
                                            message=_("What address should we deliver to?"))
        minutes += policy.delivery_minutes
    else:
        delivery_address = ""
    # Added in absolute time, then shown on the local clock: 20 minutes are 20 minutes even across
    # a clock change, and the offset printed is the one in force at the ready time.
    estimated_ready_at = (now + dt.timedelta(minutes=minutes)).astimezone(tz)

    lines = [
        OrderLine(menu_item=menu_item, name=menu_item.name, quantity=quantity, unit_price=menu_item.price,
                  line_total=(menu_item.price * quantity).quantize(CENTS, ROUND_HALF_UP), notes=line_notes)
        for menu_item, quantity, line_notes in wanted.values()
    ]
    total = sum((line.line_total for line in lines), Decimal("0.00")).quantize(CENTS, ROUND_HALF_UP)

    with transaction.atomic():
        order = Order.objects.create(
            fulfillment=fulfillment, customer_name=customer_name, customer_phone=phone,
            delivery_address=delivery_address, notes=notes, total=total, currency=currency,
            estimated_ready_at=estimated_ready_at, call=call,
        )
        for line in lines:
            line.order = order
        OrderLine.objects.bulk_create(lines)
        # After the commit, and after the caller's answer is sent; a follow-up that fails is logged and
        # never turns the answer into an error (the agent would retry and order twice).
        followup_after_commit(followups.order_created, order=order)

    return order
