"""Writes for bookings, typed: a `Service` and an aware start in, the `Booking` out; refusals as
`BookingRefused` (code, alternatives) or `DomainError`. The agent's words become these calls in
`bookings/voice.py`; the admin calls them directly. Each write registers its one follow-up
(`bookings/followups.py`)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bookings import followups
from bookings.availability import (
    BookingRules,
    BookingSpan,
    Offer,
    booking_alternatives,
    booking_policy_get,
    booking_rules_load,
    confirmed_bookings_between,
    free_lane,
)
from bookings.models import Booking, BookingEvent, Service
from bookings.refusals import offer_sentence, start_refusal_sentence, too_far_ahead_sentence
from bookings.selectors import change_deadline
from bookings.sms import booking_reminder_queue
from core import clock
from core.after_response import followup_after_commit
from core.errors import DomainError
from messaging.models import SmsMessage
from tenants.selectors import customer_phone_number, tenant_timezone

if TYPE_CHECKING:
    from calls.models import Call

CUSTOMER_NAME_MAX = 200
NOTES_MAX = 2000
OVERLAP_CONSTRAINT = "booking_no_overlap_per_lane"


class _SlotTaken(Exception):
    """Raised inside the transaction to leave it (rolled back) before the alternatives are looked up."""


class BookingRefused(DomainError):
    """A start the booking rules refuse: `code` (`in_the_past`, `too_far_ahead`, `closed`, `too_soon`,
    `outside_hours`, `slot_taken`), the `start` asked for and up to three `alternatives` (aware
    datetimes; `offer` says which day they are on). `message` is the refusal said to a caller
    (bookings.refusals); the admin words its own for an owner from the code and the alternatives."""

    def __init__(self, code: str, message: str, *, start: dt.datetime, offer: Offer | None):
        self.start = start
        self.offer = offer
        self.alternatives: list[dt.datetime] = list(offer.starts) if offer else []
        super().__init__(code, message, details={"alternatives": [moment.isoformat() for moment in self.alternatives]})


def _refusal(*, code: str, service: Service, start: dt.datetime, now: dt.datetime, rules: BookingRules) -> BookingRefused:
    """A refused start, said with up to three other times to offer (the same day's nearest, or the
    next day that has any) so the agent can move the conversation on in one turn.

    `rules` are the ones booking_create checked the start against (same service, `now` and day).
    Reusing them saves a second rules load, a policy query and (outside_hours) a second calendar;
    only bookings are read again (the slot may just have been taken)."""
    sentence = start_refusal_sentence(code=code, service=service, start=start, now=now, policy=rules.policy,
                                      calendar=rules.calendar)
    offer = (booking_alternatives(service=service, around=start, now=now, rules=rules)
             if code != "too_far_ahead" else None)
    if offer and offer.starts:
        sentence = f"{sentence} {offer_sentence(offer=offer, today=now.astimezone(tenant_timezone()).date(), conjunction='or')}"
    elif code == "slot_taken":
        sentence = sentence + " " + _("I'm afraid there are no other free times that day or in the days after.")
    return BookingRefused(code, sentence, start=start, offer=offer)


@contextmanager
def _slot_refused_as(refusal: Callable[[], BookingRefused]) -> Iterator[None]:
    """The end of the one path a booking takes into a slot (create and move alike): a full slot
    found under the lock, or the exclusion constraint's last word, becomes `slot_taken` with the
    alternatives. Anything else the database says is a bug and is raised as is."""
    try:
        yield
    except _SlotTaken:
        raise refusal() from None
    except IntegrityError as error:
        # The exclusion constraint is the last guard (a booking written around these services,
        # say in the admin, without the lock).
        if OVERLAP_CONSTRAINT not in str(error):
            raise
        raise refusal() from None


def _lane_take(*, service: Service, span: BookingSpan, moving: Booking | None = None) -> int:
    """Lock the service, count what overlaps `span` and return a free lane; `_SlotTaken` if none.

    The race: two callers (or one worker retrying) check the same free slot at the same moment,
    both count N-1 overlapping bookings, and both insert. Locking the service row makes bookers (and
    movers) of this service take turns between counting and writing; under READ COMMITTED the count
    below runs after the lock is granted, so it sees the booking the previous holder committed. The
    capacity is read from the locked row, too (into `service`). A booking being `moving` does not
    block itself."""
    with connection.cursor() as cursor:
        # SQL rather than `select_for_update().get()`, whose compile cost 0.35 ms of CPU, under the lock.
        cursor.execute(_SERVICE_LOCK_SQL, [service.pk])
        (service.capacity,) = cursor.fetchone()
    overlapping = [lane for _start, _blocked_until, lane in
                   confirmed_bookings_between(service, since=span.start, until=span.blocked_until,
                                              excluding=moving.pk if moving is not None else None)]
    lane = free_lane(overlapping_lanes=overlapping, capacity=service.capacity)
    if lane is None:
        raise _SlotTaken
    return lane


_SERVICE_LOCK_SQL = f'SELECT "capacity" FROM "{Service._meta.db_table}" WHERE "id" = %s FOR UPDATE'


def booking_day_check(*, day: dt.date, now: dt.datetime) -> None:
    """A day too far from today to be meant (more than DATE_REACH_DAYS away) is refused before any
    time on it is computed (9999-12-31 has no next day, and its bounds in UTC overflow):
    `too_far_ahead` with the horizon's sentence, or `in_the_past`."""
    today = now.astimezone(tenant_timezone()).date()
    if clock.date_in_reach(day, today=today):
        return
    if day > today:
        raise DomainError("too_far_ahead", too_far_ahead_sentence(policy=booking_policy_get(), today=today),
                          details={"field": "date"})
    raise DomainError("in_the_past", _("{date} is long past; which day did you mean?").format(date=day.isoformat()),
                      details={"field": "date"})


def booking_create(
    *,
    service: Service,
    start: dt.datetime,
    customer_name: str,
    customer_phone: str,
    notes: str = "",
    call: Call | None = None,
    now: dt.datetime | None = None,
    minimum_notice: bool = True,
) -> Booking:
    """Book `service` at `start` (aware) for a customer, in the current tenant, and return the booking.
    It takes the service's duration in elapsed time, and blocks the service for its buffer after.

    Raises `BookingRefused` (nothing written) for a start the rules refuse, with alternatives, and
    `DomainError` `invalid_name`, `invalid_phone`, `invalid_notes`. Once the booking has committed,
    `bookings.followups.booking_created` sends what follows it.

    The agent books through `bookings.voice.create_booking`, which matches the spoken service and
    parses the spoken time. The business's own staff book here directly (the admin's "Add booking")
    with `minimum_notice=False`, because the notice period gives the business time to prepare for
    a caller, and a walk-in at the counter is already there. Every other rule (past, horizon,
    closures, hours, capacity) holds for them as well.
    """
    now = now or clock.now()
    tz = tenant_timezone()
    local_start = start.astimezone(tz)
    booking_day_check(day=local_start.date(), now=now)

    if not isinstance(customer_name, str) or not customer_name.strip():
        raise DomainError("invalid_name", _("What name should I put the booking under?"), details={"field": "customer_name"})
    if len(customer_name.strip()) > CUSTOMER_NAME_MAX:
        raise DomainError("invalid_name", _("That name is too long for a booking; could you give a shorter one?"),
                          details={"field": "customer_name"})
    customer_name = " ".join(customer_name.split())
    phone = customer_phone_number(customer_phone)
    notes = notes.strip() if isinstance(notes, str) else ""
    if len(notes) > NOTES_MAX:
        raise DomainError("invalid_notes", _("That note is too long; could you say it more briefly?"),
                          details={"field": "notes"})

    rules = booking_rules_load(service=service, now=now, around=local_start.date())
    if not minimum_notice:
        rules = rules.without_notice()
    span = BookingSpan.of(service, local_start)
    problem = rules.start_problem(span)
    if problem:
        raise _refusal(code=problem, service=service, start=local_start, now=now, rules=rules)

    with _slot_refused_as(lambda: _refusal(code="slot_taken", service=service, start=local_start, now=now, rules=rules)):
        with transaction.atomic():
            lane = _lane_take(service=service, span=span)
            booking = Booking.objects.create(
                service=service, start=span.start, end=span.end, blocked_until=span.blocked_until, lane=lane,
                customer_name=customer_name, customer_phone=phone, notes=notes, call=call,
                status=Booking.Status.CONFIRMED,
            )
            # After the commit, and after the caller's answer is sent; a follow-up that fails is logged
            # and never turns the answer into an error (the agent would try again and book twice).
            followup_after_commit(followups.booking_created, booking=booking)
    return booking


def bookings_cancel(*, booking_ids: list[int], now: dt.datetime | None = None, reason: str = "") -> list[Booking]:
    """Cancel the confirmed bookings among `booking_ids` (others are left as they are) and return
    them. Their places are free again at once. Each customer whose appointment is still ahead is
    texted that it is cancelled (`bookings.sms.booking_cancelled_queue`), after the commit."""

    now = now or clock.now()
    with transaction.atomic():
        bookings = list(Booking.objects.select_for_update(of=("self",)).select_related("service")
                        .filter(pk__in=booking_ids, status=Booking.Status.CONFIRMED).order_by("start"))
        Booking.objects.filter(pk__in=[booking.pk for booking in bookings]).update(status=Booking.Status.CANCELLED)
        BookingEvent.objects.bulk_create([BookingEvent(booking=booking, kind=BookingEvent.Kind.CANCELLED_BY_STAFF,
                                                       from_start=booking.start, reason=reason[:500])
                                          for booking in bookings])
        for booking in bookings:
            booking.status = Booking.Status.CANCELLED
            followup_after_commit(followups.booking_cancelled_by_business, booking=booking,
                                  still_ahead=booking.start > now)
    return bookings


def booking_reminders_queue(*, now: dt.datetime | None = None, lead: dt.timedelta | None = None) -> list[Booking]:
    """Queue a reminder SMS for every confirmed booking in the current tenant that starts within
    `lead` (BOOKING_REMINDER_HOURS, a day by default) and was made (or last moved) at least that long
    before its start; a booking made for this afternoon needs no reminder on top of its confirmation. Each
    booking is reminded once: a booking that has a reminder row is skipped, and a second sweep
    running at the same moment skips the bookings this one holds. Returns the bookings reminded.

    Nothing is written when the tenant has SMS to customers off; turning it on later reminds the
    bookings still inside the window."""
    now = now or clock.now()
    lead = lead or dt.timedelta(hours=settings.BOOKING_REMINDER_HOURS)
    reminded = []
    with transaction.atomic():
        due = (Booking.objects.select_for_update(skip_locked=True, of=("self",)).select_related("service")
               .alias(scheduled_at=Coalesce("moved_at", "created"))
               .filter(status=Booking.Status.CONFIRMED, start__gt=now, start__lte=now + lead,
                       scheduled_at__lte=F("start") - lead)
               # A booking moved to a new time is reminded of the new time, even if it had a
               # reminder of the old one.
               .exclude(Exists(SmsMessage.objects.filter(booking=OuterRef("pk"), kind=SmsMessage.Kind.BOOKING_REMINDER,
                                                         created__gte=OuterRef("scheduled_at"))))
               .order_by("start"))
        for booking in due:
            if booking_reminder_queue(booking=booking) is not None:
                reminded.append(booking)
    return reminded


# --- a caller moves or cancels their own booking ------------------------------------------------

def _too_late_to_change(*, booking: Booking, rules: BookingRules, verb: str) -> DomainError | None:
    """422 `too_late_to_change` when `now` is inside the tenant's change notice before the booking
    (or the booking has already started), with the way on the agent can offer."""
    if rules.now <= change_deadline(booking=booking, policy=rules.policy, tz=rules.tz) and rules.now < booking.start:
        return None
    hours = rules.policy.change_notice_hours
    moved = verb == "moved"
    if hours and rules.now < booking.start:
        notice = (ngettext("Bookings can only be moved by phone up to {hours} hour before they start.",
                           "Bookings can only be moved by phone up to {hours} hours before they start.", hours) if moved
                  else ngettext("Bookings can only be cancelled by phone up to {hours} hour before they start.",
                                "Bookings can only be cancelled by phone up to {hours} hours before they start.", hours))
    else:
        notice = (_("That booking has already started, so it can't be moved now.") if moved
                  else _("That booking has already started, so it can't be cancelled now."))
    way_on = _("I can put you through to someone or ask them to call you back.")
    return DomainError("too_late_to_change", " ".join((notice.format(hours=hours), way_on)),
                       details={"change_notice_hours": hours})


def booking_changeable_check(*, booking: Booking) -> None:
    """409 `booking_cancelled`: a cancelled booking is not moved (a new one is made instead)."""
    if booking.status != Booking.Status.CONFIRMED:
        raise DomainError("booking_cancelled", _("That booking was cancelled, so it can't be moved. I can make a new "
                                                 "booking instead."))


def booking_reschedule(*, booking: Booking, start: dt.datetime, call: Call | None = None,
                       now: dt.datetime | None = None) -> Booking:
    """A caller moves `booking` (found as theirs by the caller) to `start` (aware), and gets it back as
    it now is. The new time obeys every rule a new booking obeys; the old time is free once the move
    commits (it is the same row, updated); the same time again changes nothing.

    Raises `DomainError` 409 `booking_cancelled`, 422 `too_late_to_change` (inside the change
    notice), and `BookingRefused` like `booking_create` (time rules, 409 `slot_taken`, with
    alternatives). Once the move has committed, `bookings.followups.booking_moved` sends what
    follows it."""
    now = now or clock.now()
    tz = tenant_timezone()
    booking_changeable_check(booking=booking)
    service = booking.service
    local_start = start.astimezone(tz)
    booking_day_check(day=local_start.date(), now=now)
    rules = booking_rules_load(service=service, now=now, around=local_start.date())
    refusal = _too_late_to_change(booking=booking, rules=rules, verb="moved")
    if refusal:
        raise refusal
    span = BookingSpan.of(service, local_start)
    if span.start == booking.start:
        return booking
    problem = rules.start_problem(span)
    if problem:
        raise _refusal(code=problem, service=service, start=local_start, now=now, rules=rules)

    with _slot_refused_as(lambda: _refusal(code="slot_taken", service=service, start=local_start, now=now, rules=rules)):
        with transaction.atomic():
            # The same path as booking_create (`_lane_take`). The booking row is locked and read
            # again under the service's lock: a concurrent cancel or move of this very booking has
            # committed by now and is seen.
            booking = Booking.objects.select_for_update(of=("self",)).select_related("service").get(pk=booking.pk)
            if booking.status != Booking.Status.CONFIRMED:
                raise DomainError("booking_cancelled", _("That booking was just cancelled, so it can't be moved."))
            if span.start == booking.start:
                return booking
            refusal = _too_late_to_change(booking=booking, rules=rules, verb="moved")  # moved meanwhile
            if refusal:
                raise refusal
            lane = _lane_take(service=service, span=span, moving=booking)
            from_start = booking.start
            Booking.objects.filter(pk=booking.pk).update(start=span.start, end=span.end, blocked_until=span.blocked_until,
                                                         lane=lane, moved_at=now)
            booking.start, booking.end, booking.blocked_until, booking.lane, booking.moved_at = (
                span.start, span.end, span.blocked_until, lane, now)
            BookingEvent.objects.create(booking=booking, kind=BookingEvent.Kind.MOVED, from_start=from_start,
                                        to_start=span.start, call=call)
            followup_after_commit(followups.booking_moved, booking=booking, previous_start=from_start)
    return booking


def booking_cancel_by_caller(*, booking: Booking, reason: str = "", call: Call | None = None,
                             now: dt.datetime | None = None) -> Booking:
    """A caller cancels `booking` (found as theirs by the caller); its place is free once this
    commits. A booking already cancelled is returned as it is, unchanged.

    Raises `DomainError` 422 `too_late_to_change`. Once the cancellation has committed,
    `bookings.followups.booking_cancelled_by_caller` sends what follows it; no reminder follows
    (reminders are for confirmed bookings)."""
    now = now or clock.now()
    tz = tenant_timezone()
    with transaction.atomic():
        # Locked: a move or a second cancel of this booking at the same moment waits, then sees this one.
        booking = Booking.objects.select_for_update(of=("self",)).select_related("service").get(pk=booking.pk)
        if booking.status == Booking.Status.CANCELLED:
            return booking
        rules = booking_rules_load(service=booking.service, now=now, around=booking.start.astimezone(tz).date())
        refusal = _too_late_to_change(booking=booking, rules=rules, verb="cancelled")
        if refusal:
            raise refusal
        Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)
        booking.status = Booking.Status.CANCELLED
        BookingEvent.objects.create(booking=booking, kind=BookingEvent.Kind.CANCELLED_BY_CALLER,
                                    from_start=booking.start, reason=(reason or "").strip()[:500], call=call)
        followup_after_commit(followups.booking_cancelled_by_caller, booking=booking)
    return booking
