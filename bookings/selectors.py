"""Reads the voice tools make of bookings: whether a service can start at a time, and what to offer instead."""
from __future__ import annotations

import datetime as dt

from bookings.availability import (
    AVAILABLE_STARTS_SHOWN,
    BookingSpan,
    booking_rules_load,
    bookings_for_days,
    day_availability,
    lane_for,
    offer_for,
)
from bookings.catalog import service_match
from bookings.parsing import local_date_parse, requested_start_parse
from bookings.refusals import availability_message
from core import clock
from core.errors import ToolOutcome
from tenants.selectors import tenant_timezone


def availability_check(*, service_name: str, date: str | dt.date, time: str | dt.time | dt.datetime | None = None,
                       now: dt.datetime | None = None) -> ToolOutcome:
    """Whether `service_name` can start at `time` on `date`, and the free start times nearest to it.

    `date` is `YYYY-MM-DD` (or `today` / `tomorrow`) in the tenant's zone; `time` is `HH:MM` local
    time, or carries an offset (honoured, converted to local), or is a full ISO 8601 datetime.
    When the day has no free start (closed, full, or already over) the next day with free starts
    within the booking horizon is offered instead and `moved_to_next_open_day` is true.

    Result: `service`, `duration_minutes`, `date` (the day `available_starts` are on),
    `requested_date`, `timezone`, `requested_start` (ISO with offset, or null),
    `requested_available` (bool, or null without a time), `requested_unavailable_reason`
    (`in_the_past`, `too_far_ahead`, `closed`, `outside_hours`, `too_soon`, `slot_taken`, or null),
    `day_status` (the requested day: `open`, `closed`, `past`, `full`, `too_far_ahead`),
    `moved_to_next_open_day`, `available_starts` (up to 5, ISO 8601 with offset, nearest to the
    requested time first, or earliest first without one).

    Raises `DomainError`: unknown_service, invalid_date, invalid_time, and too_far_ahead or
    in_the_past for a day more than clock.DATE_REACH_DAYS from today (all 422).
    """
    now = now or clock.now()
    tz = tenant_timezone()
    service = service_match(spoken_name=service_name)
    today = now.astimezone(tz).date()
    day = local_date_parse(date, today=today)
    requested = requested_start_parse(day=day, time=time, tz=tz, today=today)
    if requested is not None:
        day = requested.date()  # an offset can move the time onto another local day
    rules = booking_rules_load(service=service, now=now, around=day)
    bookings = bookings_for_days(service, first_day=day, last_day=day, tz=tz)
    requested_day = day_availability(rules, day, bookings)

    reason = None
    if requested is not None:
        span = BookingSpan.of(service, requested)
        reason = rules.start_problem(span)
        if reason is None and lane_for(span, bookings, service.capacity) is None:
            reason = "slot_taken"
    offer = offer_for(rules, day=day, requested=requested, limit=AVAILABLE_STARTS_SHOWN, requested_day=requested_day)
    message = availability_message(rules=rules, requested=requested, reason=reason, requested_day=requested_day, offer=offer)

    result = {
        "service": service.name,
        "duration_minutes": service.duration_minutes,
        "date": offer.day.isoformat(),
        "requested_date": day.isoformat(),
        "timezone": str(tz.key),
        "requested_start": requested.isoformat() if requested is not None else None,
        "requested_available": None if requested is None else reason is None,
        "requested_unavailable_reason": reason,
        "day_status": requested_day.status,
        "moved_to_next_open_day": offer.moved,
        "available_starts": [start.isoformat() for start in offer.starts],
    }
    return ToolOutcome(result=result, message=message)
