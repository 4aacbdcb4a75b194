"""The texts a booking's customer gets: the confirmation, the day-before reminder, "cancelled by the
business", and the caller's own move or cancellation by phone. Bookings write the words; `messaging.sms.sms_queue` records, sends and retries them.

Plain GSM-7 characters only (no "×", "–", "€"): one such character turns the whole message into UCS-2,
which halves what fits in one SMS segment and doubles what the business pays."""
from __future__ import annotations

from bookings.models import Booking
from messaging.models import SmsMessage
from messaging.sms import sms_queue
from tenants.selectors import tenant_clock_text, tenant_timezone


def _when(booking: Booking) -> str:
    start = booking.start.astimezone(tenant_timezone())
    return f"{start:%a} {start.day} {start:%b} at {tenant_clock_text(start)}"


def booking_confirmation_queue(*, booking: Booking) -> SmsMessage | None:
    """Queue the text confirming `booking` (see `sms_queue` for the switch, the states and why after commit)."""
    return sms_queue(kind=SmsMessage.Kind.CONFIRMATION, booking=booking, body=lambda business: (
        f"{business}: your {booking.service.name} is booked for {_when(booking)}. See you then!"))


def booking_reminder_queue(*, booking: Booking) -> SmsMessage | None:
    """Queue the reminder of an upcoming `booking` (`bookings.services.booking_reminders_queue` picks which)."""
    return sms_queue(kind=SmsMessage.Kind.BOOKING_REMINDER, booking=booking, body=lambda business: (
        f"{business}: a reminder of your {booking.service.name} on {_when(booking)}. "
        "See you then! If you can't make it, please call us."))


def booking_cancelled_queue(*, booking: Booking) -> SmsMessage | None:
    """Queue the text telling the customer the business cancelled `booking`, so nobody turns up for an
    appointment that is gone."""
    return sms_queue(kind=SmsMessage.Kind.BOOKING_CANCELLED, booking=booking, body=lambda business: (
        f"{business}: sorry, your {booking.service.name} on {_when(booking)} has been cancelled. "
        "Call us to find a new time."))


def booking_rescheduled_queue(*, booking: Booking) -> SmsMessage | None:
    """Queue the text with the new time of `booking`, which the caller moved on the phone."""
    return sms_queue(kind=SmsMessage.Kind.BOOKING_RESCHEDULED, booking=booking, body=lambda business: (
        f"{business}: your {booking.service.name} has moved to {_when(booking)}. See you then!"))


def booking_cancel_confirmation_queue(*, booking: Booking) -> SmsMessage | None:
    """Queue the text confirming the caller cancelled `booking` on the phone (not the business's
    apology of `booking_cancelled_queue`)."""
    return sms_queue(kind=SmsMessage.Kind.CANCEL_CONFIRMATION, booking=booking, body=lambda business: (
        f"{business}: as you asked, your {booking.service.name} on {_when(booking)} is cancelled. "
        "Call us any time to book again."))
