"""The texts an order's customer gets: the confirmation and "your order is ready". Orders write the
words; `messaging.sms.sms_queue` records, sends and retries them. Plain GSM-7 characters only (see
bookings/sms.py)."""
from __future__ import annotations

from messaging.models import SmsMessage
from messaging.sms import sms_queue
from orders.models import Order
from tenants.selectors import tenant_clock_text, tenant_timezone

# A long order still fits one text: the first few lines, then "and N more".
ORDER_ITEMS_IN_SMS = 4


def _confirmation_text(business: str, order: Order) -> str:
    lines = list(order.lines.all())
    items = ", ".join(f"{line.quantity} x {line.name}" for line in lines[:ORDER_ITEMS_IN_SMS])
    if len(lines) > ORDER_ITEMS_IN_SMS:
        items += f" and {len(lines) - ORDER_ITEMS_IN_SMS} more"
    body = f"{business}: order #{order.pk} received - {items}. Total {order.total} {order.currency}."
    if order.estimated_ready_at:
        ready = order.estimated_ready_at.astimezone(tenant_timezone())
        if order.fulfillment == order.Fulfillment.DELIVERY:
            body += f" Delivery expected about {tenant_clock_text(ready)}."
        else:
            body += f" Ready for pickup about {tenant_clock_text(ready)}."
    return body


def order_confirmation_queue(*, order: Order) -> SmsMessage | None:
    """Queue the text confirming `order` (see `sms_queue` for the switch, the states and why after commit)."""
    return sms_queue(kind=SmsMessage.Kind.CONFIRMATION, order=order,
                     body=lambda business: _confirmation_text(business, order))


def order_ready_queue(*, order: Order) -> SmsMessage | None:
    """Queue the text telling the customer `order` is ready (for pickup, or going out for delivery)."""
    def text(business: str) -> str:
        if order.fulfillment == order.Fulfillment.DELIVERY:
            return f"{business}: your order #{order.pk} is ready and will be with you shortly."
        return f"{business}: your order #{order.pk} is ready for pickup. See you soon!"

    return sms_queue(kind=SmsMessage.Kind.ORDER_READY, order=order, body=text)
