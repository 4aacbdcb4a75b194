"""What follows a change to a booking, one function per change: the customer's text, the owner's
email and staff text, the webhook event, and the booking's event in the business's connected
calendars. The booking services register exactly one of these with `followup_after_commit`
(core/after_response.py), so nothing goes out for a write that rolls back, a caller on the line
does not wait for it, and a follow-up that fails is logged without turning the committed booking
into an error.

    booking_created              booking_create (the agent's create_booking, the admin's "Add booking")
    booking_moved                booking_reschedule (a caller, by phone)
    booking_cancelled_by_caller  booking_cancel_by_caller
    booking_cancelled_by_business bookings_cancel (the admin's "Cancel selected bookings")

The notifications event and the calendar write go first in each: they never raise, while a text
that cannot be queued would stop what follows it.
"""
from __future__ import annotations

import datetime as dt

from bookings.models import Booking
from bookings.sms import (
    booking_cancel_confirmation_queue,
    booking_cancelled_queue,
    booking_confirmation_queue,
    booking_rescheduled_queue,
)
from calendars.services import calendar_booking_changed
from notifications import events


def booking_created(*, booking: Booking) -> None:
    """The webhook `booking.created`; the event in the connected calendars; the customer's
    confirmation text."""
    events.booking_created(booking=booking)
    calendar_booking_changed(booking=booking)
    booking_confirmation_queue(booking=booking)


def booking_moved(*, booking: Booking, previous_start: dt.datetime) -> None:
    """A caller moved their booking: the owner's email and staff text, `booking.rescheduled`, and the
    customer's text with the new time; the calendars' event moves with it."""
    events.booking_rescheduled(booking=booking, previous_start=previous_start, by_caller=True)
    calendar_booking_changed(booking=booking)
    booking_rescheduled_queue(booking=booking)


def booking_cancelled_by_caller(*, booking: Booking) -> None:
    """A caller cancelled their booking: the owner's email and staff text, `booking.cancelled`, and
    the customer's confirmation that it is cancelled; the calendars' event is removed."""
    events.booking_cancelled(booking=booking, by_caller=True)
    calendar_booking_changed(booking=booking)
    booking_cancel_confirmation_queue(booking=booking)


def booking_cancelled_by_business(*, booking: Booking, still_ahead: bool) -> None:
    """The business cancelled a booking itself: `booking.cancelled` (the owner needs no email about
    their own click), and the customer's apology if the appointment was `still_ahead` when it was
    cancelled (nobody should turn up for an appointment that is gone); the calendars' event is
    removed."""
    events.booking_cancelled(booking=booking, by_caller=False)
    calendar_booking_changed(booking=booking)
    if still_ahead:
        booking_cancelled_queue(booking=booking)
