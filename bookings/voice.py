"""The voice adapter of the booking writes: what the agent's tools say becomes the domain's typed
call, and the domain's answer becomes the sentence the caller hears. It matches the spoken service
name, parses the spoken start (`YYYY-MM-DDTHH:MM` in the tenant's local time, or with an offset), checks
that a caller who moves or cancels a booking is who the booking is for (`bookings.verification`: the
name on it, and a texted code when the business asks for one; a caller id alone never changes a
booking), and words the result; `bookings.services` does the writing and knows nothing of speech.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from bookings import services
from bookings.catalog import a_service, service_match
from bookings.models import Booking
from bookings.parsing import booking_start_parse
from bookings.verification import booking_for_verified_caller, change_identity, change_verification
from core import clock
from core.errors import DomainError, ToolOutcome
from core.phrasing import spoken_clock, spoken_day
from core.reading import moment_words, phone_words
from tenants.selectors import customer_phone_number, tenant_timezone

if TYPE_CHECKING:
    from calls.models import Call


def booking_result(booking: Booking, *, today: dt.date) -> dict:
    """What the agent's tool returns about a booking: its number, service and times (ISO 8601 with
    the offset of the tenant's zone), and the start and the phone number in words (core.reading)."""
    tz = tenant_timezone()
    return {"booking_id": booking.pk, "service": booking.service.name, "start": booking.start.astimezone(tz).isoformat(),
            "end": booking.end.astimezone(tz).isoformat(),
            "start_spoken": moment_words(booking.start.astimezone(tz), today=today),
            "customer_phone_spoken": phone_words(booking.customer_phone)}


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
    message = _("You're booked for {service} {day} at {start}, until {end}, under the name {name}. Your booking number "
                "is {number}.").format(service=a_service(service), day=spoken_day(booking_start.date(), today=today),
                                       start=spoken_clock(booking_start), end=spoken_clock(booking_end),
                                       name=booking.customer_name, number=booking.pk)
    return ToolOutcome(result=booking_result(booking, today=today), message=message)


def booking_read_back(*, service_name: str, start: str | dt.datetime, customer_name: str, customer_phone: str,
                      now: dt.datetime | None = None) -> DomainError:
    """create_booking before the caller confirmed it: 422 `not_confirmed`, whose sentence reads the
    booking back (the service, the day and time, the name, the phone number digit by digit) and asks
    the caller to confirm; nothing is written. The model calls again with `confirmed: true` after the
    caller's yes. What cannot be booked as said is refused first, with its own sentence."""
    now = now or clock.now()
    tz = tenant_timezone()
    service = service_match(spoken_name=service_name)
    today = now.astimezone(tz).date()
    local_start = booking_start_parse(start=start, tz=tz, today=today)
    name = " ".join(customer_name.split()) if isinstance(customer_name, str) else ""
    if not name:
        raise DomainError("invalid_name", _("What name should I put the booking under?"), details={"field": "customer_name"})
    phone = customer_phone_number(customer_phone)
    message = _("Just to confirm: {service} {day} at {time}, under the name {name}, and your phone number is {phone}. "
                "Is that right?").format(service=a_service(service), day=spoken_day(local_start.date(), today=today),
                                         time=spoken_clock(local_start), name=name, phone=phone_words(phone))
    return DomainError("not_confirmed", message, details={"start_spoken": moment_words(local_start, today=today),
                                                          "customer_phone_spoken": phone_words(phone)})


def reschedule_booking(*, booking_id: int, start: str | dt.datetime, caller_number: str, customer_phone: str = "",
                       customer_name: str = "", verification_code: str = "", call: Call | None = None,
                       now: dt.datetime | None = None) -> ToolOutcome:
    """reschedule_booking: move the caller's booking `booking_id` to `start` (the form
    `create_booking` takes). The caller reaches it from the number they call from, or with the
    number and name it was booked under, and must give the name it is under (and, when the business
    asks for it, the code texted to the booking's phone: `bookings.verification`).

    Result: `booking_id`, `start`, `end`; or, when a code was just texted, `booking_id` and
    `verification` ("code_sent") with nothing changed. Raises `DomainError`: 404 `booking_not_found`
    (not the caller's, or no such booking), 422 `verification_incomplete`, `name_required`,
    `verification_failed`, `verification_unavailable`, `too_many_attempts`, the words'
    `invalid_date` / `invalid_time`, and every refusal of `bookings.services.booking_reschedule`."""
    now = now or clock.now()
    tz = tenant_timezone()
    identity = change_identity(caller_number=caller_number, customer_phone=customer_phone, customer_name=customer_name)
    booking = booking_for_verified_caller(booking_id=booking_id, identity=identity, call=call)
    services.booking_changeable_check(booking=booking)  # before the time: a cancelled booking is the news
    # A caller id alone never moves a booking (bookings/verification.py).
    asked = change_verification(booking=booking, identity=identity, customer_name=customer_name,
                                verification_code=verification_code, call=call, verb="moved")
    if asked is not None:
        return asked
    local_start = booking_start_parse(start=start, tz=tz, today=now.astimezone(tz).date())
    was = booking.start
    moved = services.booking_reschedule(booking=booking, start=local_start, call=call, now=now)
    booking_start, booking_end = moved.start.astimezone(tz), moved.end.astimezone(tz)
    today = now.astimezone(tz).date()
    sentence = (_("That's already your booking's time: {service} {day} at {start}, until {end}.") if moved.start == was
                else _("Done: your booking is moved to {service} {day} at {start}, until {end}."))
    return ToolOutcome(result={"booking_id": moved.pk, "start": booking_start.isoformat(), "end": booking_end.isoformat(),
                               "start_spoken": moment_words(booking_start, today=today)},
                       message=sentence.format(service=a_service(moved.service),
                                               day=spoken_day(booking_start.date(), today=today),
                                               start=spoken_clock(booking_start), end=spoken_clock(booking_end)))


def cancel_booking(*, booking_id: int, caller_number: str, reason: str = "", customer_phone: str = "",
                   customer_name: str = "", verification_code: str = "", call: Call | None = None,
                   now: dt.datetime | None = None) -> ToolOutcome:
    """cancel_booking: cancel the caller's booking `booking_id` (reached and verified as for
    `reschedule_booking`). Cancelling a booking that is already cancelled says so and changes nothing.

    Result: `booking_id`, `status` ("cancelled"); or, when a code was just texted, `booking_id` and
    `verification` ("code_sent") with nothing changed. Raises `DomainError` 404 `booking_not_found`,
    422 `verification_incomplete`, `name_required`, `verification_failed`, `verification_unavailable`,
    `too_many_attempts`, and the refusals of `bookings.services.booking_cancel_by_caller`."""
    now = now or clock.now()
    tz = tenant_timezone()
    identity = change_identity(caller_number=caller_number, customer_phone=customer_phone, customer_name=customer_name)
    booking = booking_for_verified_caller(booking_id=booking_id, identity=identity, call=call)
    # A caller id alone never cancels a booking (bookings/verification.py).
    asked = change_verification(booking=booking, identity=identity, customer_name=customer_name,
                                verification_code=verification_code, call=call, verb="cancelled")
    if asked is not None:
        return asked
    already = booking.status == Booking.Status.CANCELLED
    cancelled = services.booking_cancel_by_caller(booking=booking, reason=reason, call=call, now=now)
    local_start = cancelled.start.astimezone(tz)
    sentence = (_("Your booking for {service} {day} at {time} is already cancelled.") if already
                else _("Done: your booking for {service} {day} at {time} is cancelled."))
    message = sentence.format(service=a_service(cancelled.service),
                              day=spoken_day(local_start.date(), today=now.astimezone(tz).date()),
                              time=spoken_clock(local_start))
    return ToolOutcome(result={"booking_id": cancelled.pk, "status": cancelled.status}, message=message)
