"""Reads the voice tools make of bookings: whether a service can start at a time and what to offer
instead; a caller's own bookings, and who may reach them."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bookings import matching
from bookings.availability import (
    AVAILABLE_STARTS_SHOWN,
    UTC,
    BookingSpan,
    booking_rules_load,
    bookings_for_days,
    day_availability,
    lane_for,
    offer_for,
)
from bookings.catalog import a_service, service_match
from bookings.models import Booking, BookingPolicy
from bookings.parsing import local_date_parse, requested_start_parse
from bookings.refusals import availability_message
from core import clock
from core.errors import DomainError, ToolOutcome
from core.phrasing import spoken_clock, spoken_day, spoken_list
from core.reading import moment_words
from tenants.hours.selectors import local_datetime
from tenants.selectors import customer_phone_number, tenant_clock_text, tenant_timezone


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
    requested time first, or earliest first without one) and `available_starts_spoken` (the same in
    words, core.reading).

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
        # The same times as a person says them ("Tuesday, March tenth at two thirty p.m."): what to read out.
        "available_starts_spoken": [moment_words(start, today=today) for start in offer.starts],
    }
    return ToolOutcome(result=result, message=message)


# --- a caller's own bookings -------------------------------------------------------------------
# Who may see or change a booking on the phone: the caller whose number it was booked under, or a
# caller on another phone (or with a withheld number) who gives that number *and* the name it was
# booked under. Anything else looks exactly like a booking that does not exist, so nobody can probe
# other people's appointments by trying numbers.

BOOKING_NOT_FOUND = gettext_noop("I couldn't find that booking under your number. If it was booked from another "
                                 "phone, tell me that number and the name it's under.")


@dataclass(frozen=True)
class CallerIdentity:
    """The numbers a caller has shown to own: the one they call from (when not withheld), and one
    they named together with a name (`named_phone`, `named_name`)."""

    caller_number: str = ""
    named_phone: str = ""
    named_name: str = ""

    def owns(self, booking: Booking) -> bool:
        if self.caller_number and booking.customer_phone == self.caller_number:
            return True
        return bool(self.named_phone and booking.customer_phone == self.named_phone
                    and matching.customer_name_matches(self.named_name, booking.customer_name))

    @property
    def phones(self) -> list[str]:
        return [phone for phone in {self.caller_number, self.named_phone} if phone]


def caller_identity(*, caller_number: str, customer_phone: str = "", customer_name: str = "") -> CallerIdentity:
    """The identity a tool call carries. `caller_number` is the call's (E.164 when shown); a number and
    a name given on the phone count only together.

    Raises `DomainError` 422 `verification_incomplete` when only one of the two is given, and
    `invalid_phone` when the number is not one."""
    shown = caller_number if caller_number.startswith("+") else ""
    customer_phone, customer_name = (customer_phone or "").strip(), " ".join((customer_name or "").split())
    if bool(customer_phone) != bool(customer_name):
        raise DomainError("verification_incomplete",
                          _("To find a booking made from another phone I need both the phone number and the name "
                            "it was booked under."), details={"field": "customer_name" if customer_phone else "customer_phone"})
    named_phone = customer_phone_number(customer_phone) if customer_phone else ""
    return CallerIdentity(caller_number=shown, named_phone=named_phone, named_name=customer_name)


def bookings_upcoming_for(*, identity: CallerIdentity, now: dt.datetime) -> list[Booking]:
    """The confirmed bookings of the caller that have not ended yet, soonest first."""
    if not identity.phones:
        return []
    candidates = (Booking.objects.select_related("service")
                  .filter(customer_phone__in=identity.phones, status=Booking.Status.CONFIRMED, end__gt=now)
                  .order_by("start", "pk"))
    return [booking for booking in candidates if identity.owns(booking)]


def booking_for_caller(*, booking_id: int, identity: CallerIdentity, for_update: bool = False) -> Booking:
    """The booking `booking_id` if the caller may reach it. Raises `DomainError` 404
    `booking_not_found` for one they may not reach and for one that does not exist alike."""
    bookings = Booking.objects.select_related("service")
    if for_update:
        bookings = bookings.select_for_update(of=("self",))
    booking = bookings.filter(pk=booking_id).first() if 0 < booking_id < 2**31 else None
    if booking is None or not identity.owns(booking):
        raise DomainError("booking_not_found", _(BOOKING_NOT_FOUND))
    return booking


def change_deadline(*, booking: Booking, policy: BookingPolicy, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The last moment a caller may move or cancel `booking`: `change_notice_hours` before its start
    on the tenant's wall clock. "24 hours' notice" for 10:00 on the Sunday the clocks change means
    10:00 on the Saturday, as the business and the caller read it, not 09:00 or 11:00."""
    local_start = booking.start.astimezone(tz)
    wall = local_start.replace(tzinfo=None) - dt.timedelta(hours=policy.change_notice_hours)
    return local_datetime(wall.date(), wall.time(), tz).astimezone(UTC)


def booking_find(*, caller_number: str, customer_phone: str = "", customer_name: str = "",
                 now: dt.datetime | None = None) -> ToolOutcome:
    """find_bookings: the caller's upcoming bookings (see `caller_identity` for who the caller is).

    Result: `bookings`: [{`booking_id`, `service`, `start`, `end`, `status`}], times in the tenant's zone."""
    now = now or clock.now()
    identity = caller_identity(caller_number=caller_number, customer_phone=customer_phone, customer_name=customer_name)
    tz = tenant_timezone()
    bookings = bookings_upcoming_for(identity=identity, now=now)
    today = now.astimezone(tz).date()
    result = [{"booking_id": booking.pk, "service": booking.service.name, "start": booking.start.astimezone(tz).isoformat(),
               "end": booking.end.astimezone(tz).isoformat(), "status": booking.status} for booking in bookings]
    if not bookings:
        if identity.phones:
            message = _("I couldn't find any upcoming booking under your number. If it was booked from another "
                        "phone, tell me that number and the name it's under.")
        else:
            message = _("Your number is withheld, so I can't look your bookings up by it. What phone number and "
                        "name was the booking made under?")
    else:
        spoken = [_("{service} {day} at {time} (booking {number})").format(
                      service=a_service(booking.service), day=spoken_day(booking.start.astimezone(tz).date(), today=today),
                      time=spoken_clock(booking.start.astimezone(tz)), number=booking.pk)
                  for booking in bookings[:5]]
        message = _("I found {bookings}.").format(bookings=spoken_list(spoken))
    return ToolOutcome(result={"bookings": result}, message=message)


def booking_history(*, booking: Booking) -> list[tuple[dt.datetime, str]]:
    """What happened to `booking`, oldest first, as (when, sentence) for the admin: how it was made
    (by phone or by staff), each move from -> to, and its cancellation (by the caller or by staff)."""
    tz = tenant_timezone()

    def spoken(moment: dt.datetime | None) -> str:
        local = moment.astimezone(tz) if moment else None
        return f"{local:%a} {local.day} {local:%b}, {tenant_clock_text(local)}" if local else "?"

    history = [(booking.created, "Booked by phone" if booking.call_id else "Booked by staff")]
    for event in booking.events.all():
        if event.kind == "moved":
            who = "the caller" if event.call_id else "staff"  # the admin's Move has no call
            sentence = f"Moved by {who} from {spoken(event.from_start)} to {spoken(event.to_start)}"
        elif event.kind == "cancelled_by_caller":
            sentence = "Cancelled by the caller" + (f" ({event.reason})" if event.reason else "")
        else:
            sentence = "Cancelled by staff" + (f" ({event.reason})" if event.reason else "")
        history.append((event.created, sentence))
    return history
