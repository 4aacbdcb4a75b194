"""The owner's daily digest email: yesterday's calls by outcome, bookings and orders taken, callbacks
still open. A report over every domain, so it sits with the dashboard; it is sent through the
notifications' one path (`notification_event_record`), once per day per tenant."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count

from backoffice.dashboard import local_day_bounds
from bookings.models import Booking
from calls.models import Call, CallbackRequest
from core import clock
from notifications.models import Notification
from notifications.services import notification_event_record, notification_settings_get
from orders.models import Order
from tenants.selectors import current_tenant, tenant_timezone


def digest_body(*, day: dt.date) -> tuple[str, str]:
    """(subject, body) of the digest for `day` (tenant-local): calls by outcome, bookings and
    orders taken, callbacks still open."""
    tz = tenant_timezone()
    start, end = local_day_bounds(day, tz)
    calls = Call.objects.filter(started_at__gte=start, started_at__lt=end, is_test=False)
    by_outcome = {row["outcome"]: row["n"] for row in calls.values("outcome").annotate(n=Count("pk"))}
    labels = dict(Call.Outcome.choices)
    bookings = Booking.objects.filter(created__gte=start, created__lt=end).exclude(call__is_test=True).count()
    orders = Order.objects.filter(created__gte=start, created__lt=end).exclude(call__is_test=True).count()
    open_callbacks = list(CallbackRequest.objects.filter(status=CallbackRequest.Status.OPEN).exclude(call__is_test=True).order_by("created")[:20])
    total = sum(by_outcome.values())
    lines = [f"{current_tenant().name}: your calls on {day:%A %d %B %Y}.", "", f"Calls: {total}"]
    lines += [f"  {labels.get(outcome, outcome or 'Not finished')}: {count}" for outcome, count in sorted(by_outcome.items())]
    lines += ["", f"Bookings taken: {bookings}", f"Orders taken: {orders}", "",
              f"Callbacks still open: {CallbackRequest.objects.filter(status=CallbackRequest.Status.OPEN).exclude(call__is_test=True).count()}"]
    lines += [f"  {callback.caller_name or 'Caller'} {callback.caller_number}: {callback.reason[:120]}" for callback in open_callbacks]
    return f"Yesterday's calls: {total} calls, {bookings} bookings, {orders} orders", "\n".join(lines)


def digest_send_if_due(*, now: dt.datetime | None = None) -> list[Notification]:
    """Queue yesterday's digest to the tenant's addresses once its local clock has passed
    NOTIFICATION_DIGEST_HOUR. Once per day: the event key is the date."""
    now = now or clock.now()
    notification_settings = notification_settings_get()
    local = now.astimezone(tenant_timezone())
    if not notification_settings.digest_enabled or not notification_settings.emails or local.hour < settings.NOTIFICATION_DIGEST_HOUR:
        return []
    day = local.date() - dt.timedelta(days=1)
    subject, body = digest_body(day=day)
    return notification_event_record(event="digest", event_key=f"digest:{day.isoformat()}", subject=subject, body=body,
                                     emails_only=True)
