"""The voice adapter of the booking writes: what the agent's tools say becomes the domain's typed
call, and the domain's answer becomes the sentence the caller hears. It matches the spoken service
name, parses the spoken start (`YYYY-MM-DDTHH:MM` in the tenant's local time, or with an offset), and
words the result; `bookings.services` does the writing and knows nothing of speech.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bookings import services
from bookings.catalog import a_service, service_match
from bookings.models import Booking
from bookings.parsing import booking_start_parse
from core import clock
from core.errors import ToolOutcome
from core.phrasing import spoken_clock, spoken_day
from tenants.selectors import tenant_timezone

if TYPE_CHECKING:
    from calls.models import Call


def booking_result(booking: Booking) -> dict:
    """What the agent's tool returns about a booking: its number, service and times (ISO 8601 with
    the offset of the tenant's zone)."""
    tz = tenant_timezone()
    return {"booking_id": booking.pk, "service": booking.service.name, "start": booking.start.astimezone(tz).isoformat(),
            "end": booking.end.astimezone(tz).isoformat()}


def create_booking(*, service_name: str, start: str | dt.datetime, customer_name: str, customer_phone: str,
                   notes: str = "", call: Call | None = None, now: dt.datetime | None = None) -> ToolOutcome:
    """create_booking: book the service the caller named at the start they asked for.

    Result: `booking_id`, `service`, `start`, `end`. Raises `DomainError` with a sentence the agent
    can say, nothing written: 422 `unknown_service`, `invalid_date`, `invalid_time` (from the
    words), and every refusal of `bookings.services.booking_create` (`invalid_name`,
    `invalid_phone`, `invalid_notes`, the time rules; 409 `slot_taken`), the time refusals with
    `details={"alternatives": [ISO starts]}` (up to 3), also offered in the message."""
    now = now or clock.now()
    tz = tenant_timezone()
    service = service_match(spoken_name=service_name)
    local_start = booking_start_parse(start=start, tz=tz, today=now.astimezone(tz).date())
    booking = services.booking_create(service=service, start=local_start, customer_name=customer_name,
                                      customer_phone=customer_phone, notes=notes, call=call, now=now)
    booking_start, booking_end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    today = now.astimezone(tz).date()
    message = (f"You're booked for {a_service(service)} {spoken_day(booking_start.date(), today=today)} at "
               f"{spoken_clock(booking_start)}, until {spoken_clock(booking_end)}, under the name "
               f"{booking.customer_name}. Your booking number is {booking.pk}.")
    return ToolOutcome(result=booking_result(booking), message=message)
