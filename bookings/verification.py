"""Who may move or cancel a booking by phone (issue 29, item 3).

A caller id is trivial to fake on SIP, so it may *find* a caller's bookings but never, alone, change
one: moving or cancelling also needs the name the booking was made under (compared as
`bookings.matching.customer_name_matches` says: one small misspelling, nothing looser). A business
that chooses `change_verification = code` (booking policy; spec `booking_rules.change_verification`)
also wants, from a caller on another phone than the booking's, a six-digit code that Soniq texts to
the booking's phone: the first attempt texts it, the next one carries it.

Guessing is bounded: each failed check (no such booking for that phone and name, a wrong name, a
wrong code) is counted for the call and for the caller's number; past
BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL on a call, or BOOKING_VERIFICATION_MAX_FAILURES_PER_HOUR
from one number in an hour, finding, moving and cancelling bookings are refused for the rest of the
call (or the hour) with a sentence the agent can say, and the refusal is logged. Counters live in the
cache (Redis), per tenant: they are not rolled back with the tool call's transaction.
"""
from __future__ import annotations

import hmac
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bookings.matching import customer_name_matches
from bookings.models import Booking, BookingPolicy
from bookings.selectors import CallerIdentity, booking_find, booking_for_caller, caller_identity
from calls.models import Call
from core.errors import DomainError, ToolOutcome

logger = logging.getLogger("bookings.verification")

CODE_TTL_SECONDS = 10 * 60
TOO_MANY = gettext_noop("I can't look up or change bookings on this call any more. I can ask someone from the team "
                        "to call you back instead.")


def _call_key(call: Call | None) -> str | None:
    return f"booking-verification:call:{call.pk}" if call is not None else None


def _number_key(caller_number: str) -> str | None:
    return f"booking-verification:number:{caller_number}" if caller_number.startswith("+") else None


def _failures(key: str | None) -> int:
    return int(cache.get(key) or 0) if key else 0


def verification_guard(*, call: Call | None, caller_number: str) -> None:
    """Raise 422 `too_many_attempts` once the call or the number has failed too often."""
    per_call, per_number = _failures(_call_key(call)), _failures(_number_key(caller_number))
    if (per_call >= settings.BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL
            or per_number >= settings.BOOKING_VERIFICATION_MAX_FAILURES_PER_HOUR):
        logger.warning("booking verification refused (schema %s, call %s, caller %s): %d failures on the call, "
                       "%d from the number this hour", connection.schema_name, getattr(call, "pk", None),
                       caller_number or "withheld", per_call, per_number)
        raise DomainError("too_many_attempts", _(TOO_MANY))


def verification_failed(*, call: Call | None, caller_number: str, reason: str) -> None:
    for key, ttl in ((_call_key(call), 24 * 3600), (_number_key(caller_number), 3600)):
        if key is None:
            continue
        # add() sets the window's expiry once; incr() keeps it.
        cache.add(key, 0, timeout=ttl)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=ttl)
    logger.info("booking verification failed (schema %s, call %s, caller %s): %s", connection.schema_name,
                getattr(call, "pk", None), caller_number or "withheld", reason)


def change_identity(*, caller_number: str, customer_phone: str, customer_name: str) -> CallerIdentity:
    """Who a move or cancel comes from. Unlike finding, the name alone is complete here: it goes with
    the number the caller calls from, and is checked against the booking by `change_verification`."""
    return caller_identity(caller_number=caller_number, customer_phone=customer_phone,
                           customer_name=customer_name if (customer_phone or "").strip() else "")


def booking_for_verified_caller(*, booking_id: int, identity: CallerIdentity, call: Call | None,
                                for_update: bool = False) -> Booking:
    """`booking_for_caller`, counted: a booking this caller may not reach is a failed attempt."""
    verification_guard(call=call, caller_number=identity.caller_number)
    try:
        return booking_for_caller(booking_id=booking_id, identity=identity, for_update=for_update)
    except DomainError as error:
        if error.code == "booking_not_found":
            verification_failed(call=call, caller_number=identity.caller_number, reason=f"booking {booking_id} not found")
        raise


def booking_find_counted(*, call: Call, customer_phone: str, customer_name: str, now) -> ToolOutcome:
    """find_bookings with the guard: a phone and name that find nothing is a failed guess."""
    verification_guard(call=call, caller_number=call.caller_number)
    outcome = booking_find(caller_number=call.caller_number, customer_phone=customer_phone, customer_name=customer_name,
                           now=now)
    if customer_phone and not outcome.result.get("bookings"):
        verification_failed(call=call, caller_number=call.caller_number, reason="no booking for that phone and name")
    return outcome


def _code_key(*, call: Call | None, booking: Booking) -> str:
    return f"booking-verification:code:{getattr(call, 'pk', 'none')}:{booking.pk}"


def _code_send(*, booking: Booking, call: Call | None, verb: str) -> ToolOutcome:
    from messaging.inbound import sms_number_opted_out
    from messaging.models import SmsMessage
    from messaging.signalwire import signalwire_missing_settings
    from messaging.sms import sms_queue
    from tenants.agent.selectors import agent_settings_get

    # A number that texted STOP gets no code either (sms_queue would skip it): say so rather than
    # promise a text that never comes.
    if (not agent_settings_get().sms_confirmations or signalwire_missing_settings()
            or sms_number_opted_out(booking.customer_phone)):
        raise DomainError("verification_unavailable", _(
            "I can't text a code to the number on the booking, so it can't be cancelled on this call. I can ask someone "
            "from the team to call you back.") if verb == "cancelled" else _(
            "I can't text a code to the number on the booking, so it can't be moved on this call. I can ask someone "
            "from the team to call you back."))
    code = f"{secrets.randbelow(10**6):06d}"
    cache.set(_code_key(call=call, booking=booking), code, timeout=CODE_TTL_SECONDS)
    # After the commit, like every text: the tool call that asks for the code commits (it is an answer).
    transaction.on_commit(lambda: sms_queue(
        kind=SmsMessage.Kind.VERIFICATION_CODE, booking=booking,
        body=lambda business: f"{business}: your code to change your booking is {code}. If you did not call us, "
                              "ignore this text; your booking stays as it is."), robust=True)
    return ToolOutcome(result={"booking_id": booking.pk, "verification": "code_sent"},
                       message=_("I've just texted a six-digit code to the phone number on that booking. Please "
                                 "tell me the code when it arrives."))


def change_verification(*, booking: Booking, identity: CallerIdentity, customer_name: str, verification_code: str,
                        call: Call | None, verb: str) -> ToolOutcome | None:
    """None when the caller may move or cancel `booking` ("moved"/"cancelled" is `verb`); a ToolOutcome
    to answer instead (a code was texted); or DomainError: 422 `name_required`, `verification_failed`,
    `verification_unavailable`, `too_many_attempts`."""
    verification_guard(call=call, caller_number=identity.caller_number)
    name = " ".join((customer_name or "").split())
    if not name:
        raise DomainError("name_required", _("Before that booking can be cancelled, what name is it booked under?")
                          if verb == "cancelled" else _("Before that booking can be moved, what name is it booked under?"),
                          details={"field": "customer_name"})
    if not customer_name_matches(name, booking.customer_name):
        verification_failed(call=call, caller_number=identity.caller_number, reason=f"wrong name for booking {booking.pk}")
        raise DomainError("verification_failed", _("That name doesn't match the booking. What name was it booked under?"),
                          details={"field": "customer_name"})
    policy = BookingPolicy.objects.first()
    if policy is None or policy.change_verification != BookingPolicy.ChangeVerification.CODE:
        return None
    if identity.caller_number and identity.caller_number == booking.customer_phone:
        return None
    expected = cache.get(_code_key(call=call, booking=booking))
    given = "".join(char for char in (verification_code or "") if char.isdigit())
    if not given or expected is None:
        return _code_send(booking=booking, call=call, verb=verb)
    if not hmac.compare_digest(given, str(expected)):
        verification_failed(call=call, caller_number=identity.caller_number, reason=f"wrong code for booking {booking.pk}")
        raise DomainError("verification_failed", _("That code doesn't match. Please read me the six digits in the text "
                                                    "again."), details={"field": "verification_code"})
    cache.delete(_code_key(call=call, booking=booking))
    return None


def verification_counters_reset() -> int:
    """Forget every failure count and code (tests: each starts with a clean slate). Returns how many."""
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match="*booking-verification:*", count=1000))
    return client.delete(*keys) if keys else 0
