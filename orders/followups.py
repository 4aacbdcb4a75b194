"""What follows a change to an order, one function per change: the customer's text and the webhook
event. `orders.services` and `orders.status` register exactly one of these with
`core.after_response.followup_after_commit` (see bookings/followups.py for why).

    order_created         order_create (the agent's create_order)
    order_status_changed  order_status_change (the kitchen's buttons and actions in the admin)
"""
from __future__ import annotations

from notifications import events
from orders.models import Order
from orders.sms import order_confirmation_queue, order_ready_queue


def order_created(*, order: Order) -> None:
    """The webhook `order.created`; the customer's confirmation text. The event goes first: it never
    raises, while a text that cannot be queued would stop what follows it."""
    events.order_created(order=order)
    order_confirmation_queue(order=order)


def order_status_changed(*, order: Order, previous_status: str) -> None:
    """The customer hears when the order is ready (once: READY is reached only from PREPARING). The
    other steps are the kitchen's own business; no webhook event describes them yet."""
    if order.status == Order.Status.READY:
        order_ready_queue(order=order)
