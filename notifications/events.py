"""The one function per follow-up event. Domains (calls, bookings, orders) call exactly one of these
and nothing else; each records the owner notifications and the webhook deliveries the event causes,
in the caller's transaction, and queues them once it commits (nothing goes out for a write that
rolls back, and an event recorded twice is sent once).

Who calls them: one follow-up function per domain action, which sends everything that follows the
action (these events, the customer's text): `bookings/followups.py`, `orders/followups.py`,
`calls/followups.py`. Services register that one function with
`core.after_response.followup_after_commit`.
Calendars (not a domain action) call `calendar_problem` from their sync and event writes.

Every one of them swallows and logs its own errors: a follow-up must never fail the booking, the
order or the tool call it follows.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core.trial_calls import from_test_call
from notifications.models import NotificationEvent
from notifications.services import notification_event_record
from webhooks.models import WebhookEvent
from webhooks.services import webhook_event_record

logger = logging.getLogger("notifications")


def _never_raises(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        # A test call's booking, order, callback or note tells nobody (core/trial_calls.py).
        if any(from_test_call(value) for value in kwargs.values()):
            return None
        try:
            # A savepoint: a failed follow-up write must not break the caller's transaction.
            with transaction.atomic():
                return function(*args, **kwargs)
        except Exception:
            logger.exception("follow-up %s could not be recorded", function.__name__)
            return None
    return wrapper


def _local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    from tenants.selectors import tenant_clock_text, tenant_timezone

    local = moment.astimezone(tenant_timezone())
    return f"{local:%a} {local.day} {local:%b} at {tenant_clock_text(local)}"


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def admin_url(path: str) -> str:
    """An absolute link into the tenant's admin, on its primary domain."""
    from tenants.selectors import current_tenant

    domain = current_tenant().domains.filter(is_primary=True).values_list("domain", flat=True).first() or "localhost"
    return f"{settings.SITE_SCHEME}://{domain}/admin/{path}"


def _business() -> str:
    from tenants.agent.selectors import agent_settings_get
    from tenants.selectors import current_tenant

    return agent_settings_get().business_name or current_tenant().name


def _booking_link(booking) -> str:
    return admin_url(f"bookings/booking/{booking.pk}/change/")


def _booking_data(booking, *, link: str) -> dict:
    return {"booking_id": booking.pk, "service": booking.service.name, "start": _iso(booking.start), "end": _iso(booking.end),
            "customer_name": booking.customer_name, "customer_phone": booking.customer_phone, "status": booking.status,
            "call_id": str(booking.call_id) if booking.call_id else None,
            "link": link}


@_never_raises
def callback_requested(*, callback_request, transfer_failed: bool = False) -> None:
    from tenants.agent.selectors import agent_settings_get

    promise = agent_settings_get().callback_promise
    who = callback_request.caller_name or "A caller"
    event = NotificationEvent.TRANSFER_FAILED if transfer_failed else NotificationEvent.CALLBACK_REQUESTED
    lead = "A transfer failed; call back" if transfer_failed else "Call back"
    link = admin_url(f"calls/callbackrequest/{callback_request.pk}/change/")
    notification_event_record(
        event=event, event_key=f"callback:{callback_request.pk}",
        subject=f"{lead} {who} on {callback_request.caller_number}",
        body=(f"{_business()}: {who} asked to be called back on {callback_request.caller_number}.\n\n"
              f"Reason: {callback_request.reason}\nWe promised: a call back {promise}.\n"
              + ("The agent tried to transfer the call, but the transfer failed.\n" if transfer_failed else "")
              + f"\n{link}"),
        sms_body=f"{lead} {who} {callback_request.caller_number} ({promise}): {callback_request.reason[:200]}",
    )
    webhook_event_record(event_type=WebhookEvent.CALLBACK_CREATED, event_key=f"callback:{callback_request.pk}", data={
        "callback_id": callback_request.pk, "caller_number": callback_request.caller_number,
        "caller_name": callback_request.caller_name, "reason": callback_request.reason, "promise": promise,
        "transfer_failed": transfer_failed, "call_id": str(callback_request.call_id) if callback_request.call_id else None,
        "link": link,
    })


@_never_raises
def message_left(*, call_note) -> None:
    call = call_note.call
    caller = call.caller_number or "a withheld number"
    link = admin_url(f"calls/call/{call.pk}/change/")
    notification_event_record(
        event=NotificationEvent.MESSAGE_LEFT, event_key=f"note:{call_note.pk}",
        subject=f"Message from {caller}",
        body=f"{_business()}: the caller on {caller} left this message:\n\n{call_note.text}\n\n{link}",
        sms_body=f"Message from {caller}: {call_note.text[:300]}",
    )


@_never_raises
def booking_created(*, booking) -> None:
    link = _booking_link(booking)  # one read of the tenant's domain for both messages
    # The owner hears of bookings the agent took; one they typed in themselves is no news to them.
    if booking.call_id:
        notification_event_record(
            event=NotificationEvent.BOOKING_CREATED, event_key=f"booking:{booking.pk}:created",
            subject=f"New booking: {booking.service.name} {_local(booking.start)} ({booking.customer_name})",
            body=(f"{_business()}: {booking.customer_name} ({booking.customer_phone}) booked "
                  f"{booking.service.name} on {_local(booking.start)} by phone.\n\n"
                  f"{link}"),
            sms_body=f"New booking: {booking.service.name} {_local(booking.start)}, {booking.customer_name}",
        )
    webhook_event_record(event_type=WebhookEvent.BOOKING_CREATED, event_key=f"booking:{booking.pk}:created",
                         data=_booking_data(booking, link=link))


@_never_raises
def booking_cancelled(*, booking, by_caller: bool) -> None:
    """`by_caller`: cancelled on the phone (the owner is told); False for the business's own
    cancellation in the admin (only webhooks hear of it)."""
    link = _booking_link(booking)  # one read of the tenant's domain for both messages
    if by_caller:
        notification_event_record(
            event=NotificationEvent.BOOKING_CANCELLED, event_key=f"booking:{booking.pk}:cancelled",
            subject=f"Cancelled: {booking.service.name} {_local(booking.start)} ({booking.customer_name})",
            body=(f"{_business()}: {booking.customer_name} ({booking.customer_phone}) cancelled their "
                  f"{booking.service.name} on {_local(booking.start)} by phone.\n\n"
                  f"{link}"),
            sms_body=f"Cancelled by caller: {booking.service.name} {_local(booking.start)}, {booking.customer_name}",
        )
    webhook_event_record(event_type=WebhookEvent.BOOKING_CANCELLED, event_key=f"booking:{booking.pk}:cancelled",
                         data={**_booking_data(booking, link=link), "by_caller": by_caller})


@_never_raises
def booking_rescheduled(*, booking, previous_start: dt.datetime, by_caller: bool = True) -> None:
    link = _booking_link(booking)  # one read of the tenant's domain for both messages
    # A booking can move more than once: each move is its own event.
    key = f"booking:{booking.pk}:moved:{booking.start.isoformat()}"
    if by_caller:
        notification_event_record(
            event=NotificationEvent.BOOKING_MOVED, event_key=key,
            subject=f"Moved: {booking.service.name} to {_local(booking.start)} ({booking.customer_name})",
            body=(f"{_business()}: {booking.customer_name} ({booking.customer_phone}) moved their {booking.service.name} "
                  f"from {_local(previous_start)} to {_local(booking.start)} by phone.\n\n"
                  f"{link}"),
            sms_body=f"Moved by caller: {booking.service.name} {_local(previous_start)} -> {_local(booking.start)}, {booking.customer_name}",
        )
    webhook_event_record(event_type=WebhookEvent.BOOKING_RESCHEDULED, event_key=key,
                         data={**_booking_data(booking, link=link), "previous_start": _iso(previous_start), "by_caller": by_caller})


@_never_raises
def order_created(*, order) -> None:
    lines = [{"name": line.name, "quantity": line.quantity, "unit_price": str(line.unit_price)} for line in order.lines.all()]
    items = ", ".join(f"{line['quantity']} x {line['name']}" for line in lines)
    notification_event_record(
        event=NotificationEvent.ORDER_CREATED, event_key=f"order:{order.pk}:created",
        subject=f"New order #{order.pk}: {order.total} {order.currency} ({order.customer_name})",
        body=(f"{_business()}: {order.customer_name} ({order.customer_phone}) ordered {items} for "
              f"{order.get_fulfillment_display().lower()}, {order.total} {order.currency}.\n\n"
              f"{admin_url(f'orders/order/{order.pk}/change/')}"),
        sms_body=f"New order #{order.pk} ({order.get_fulfillment_display().lower()}): {items[:200]}",
    )
    webhook_event_record(event_type=WebhookEvent.ORDER_CREATED, event_key=f"order:{order.pk}:created", data={
        "order_id": order.pk, "customer_name": order.customer_name, "customer_phone": order.customer_phone,
        "fulfillment": order.fulfillment, "delivery_address": order.delivery_address, "total": str(Decimal(order.total)),
        "currency": order.currency, "estimated_ready_at": _iso(order.estimated_ready_at), "lines": lines,
        "call_id": str(order.call_id) if order.call_id else None, "link": admin_url(f"orders/order/{order.pk}/change/"),
    })


@_never_raises
def sms_reply_received(*, reply) -> None:
    """A customer texted the business something other than STOP, START or HELP: staff answer it."""
    link = admin_url(f"messaging/smsreply/{reply.pk}/change/")
    notification_event_record(
        event=NotificationEvent.SMS_REPLY, event_key=f"sms-reply:{reply.pk}",
        subject=f"Text from {reply.from_number}",
        body=f"{_business()}: {reply.from_number} texted:\n\n{reply.body}\n\nAnswer them yourself; {link}",
        sms_body=f"Text from {reply.from_number}: {reply.body[:300]}",
    )


@_never_raises
def call_ended(*, call, summary=None) -> None:
    webhook_event_record(event_type=WebhookEvent.CALL_ENDED, event_key=f"call:{call.pk}:ended", data={
        "call_id": str(call.pk), "caller_number": call.caller_number, "called_number": call.called_number,
        "started_at": _iso(call.started_at), "ended_at": _iso(call.ended_at),
        "duration_seconds": float(call.duration_seconds) if call.duration_seconds is not None else None,
        "outcome": call.outcome, "end_reason": call.end_reason, "transferred_to": call.transferred_to,
        "summary": ({"text": summary.summary, "intent": summary.intent, "follow_up_needed": summary.follow_up_needed}
                    if summary is not None and summary.status == "done" else None),
        "link": admin_url(f"calls/call/{call.pk}/change/"),
    })


@_never_raises
def calendar_problem(*, key: str, subject: str, body: str) -> None:
    """A connected calendar needs the owner: it stopped answering, its access was revoked, or the
    business deleted a booking's event there. Emails only: it is the owner's to fix, not the staff's."""
    notification_event_record(event="calendar_problem", event_key=key, subject=subject, body=f"{_business()}: {body}",
                              emails_only=True)
