"""An order's life in the kitchen: new → preparing → ready → done, or cancelled before it is done.
Each change is followed by `orders.followups.order_status_changed` (becoming ready texts the customer).

The one place that decides which status changes are allowed; the admin's buttons and actions call
`order_status_change` and show its refusal as is.
"""
from __future__ import annotations

from django.db import transaction

from core.after_response import followup_after_commit
from core.errors import DomainError
from orders import followups
from orders.models import Order

Status = Order.Status

ORDER_STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.PREPARING, Status.CANCELLED),
    Status.PREPARING: (Status.READY, Status.CANCELLED),
    Status.READY: (Status.DONE, Status.CANCELLED),
    Status.DONE: (),
    Status.CANCELLED: (),
}

# What the button that moves an order on says, per target status.
ORDER_STATUS_ACTIONS: dict[str, str] = {
    Status.PREPARING: "Start preparing",
    Status.READY: "Mark ready",
    Status.DONE: "Mark done",
    Status.CANCELLED: "Cancel order",
}


def order_next_statuses(*, status: str) -> tuple[str, ...]:
    return ORDER_STATUS_TRANSITIONS.get(status, ())


def order_status_change(*, order_id: int, status: str) -> Order:
    """Move the order to `status` if its current status allows it; raise `DomainError`
    (`invalid_status` 422, `order_not_found` 404, `illegal_status_change` 409) otherwise."""
    if status not in ORDER_STATUS_TRANSITIONS:
        raise DomainError("invalid_status", f"{status!r} is not an order status.")
    with transaction.atomic():
        # Locked so two people clicking "ready" and "cancel" at the same moment are decided one
        # after the other, each against the status the other left.
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise DomainError("order_not_found", f"Order #{order_id} does not exist.")
        if status not in ORDER_STATUS_TRANSITIONS[order.status]:
            raise DomainError(
                "illegal_status_change",
                f"Order #{order.pk} is {order.get_status_display().lower()}; "
                f"it cannot become {Status(status).label.lower()}.",
                details={"from": order.status, "to": status},
            )
        previous_status, order.status = order.status, status
        order.save(update_fields=["status", "updated"])
        # After the commit; a follow-up that fails is logged and never turns the owner's click (or
        # the caller's answer) into an error.
        followup_after_commit(followups.order_status_changed, order=order, previous_status=previous_status)
    return order
