"""Callbacks the agent returns itself (issue 24, items 5-7): which queued callbacks may be called now,
the attempt that dials one, what the worker reports back, and the numbers never to call.

How a callback is placed (the API side dispatches, the worker dials):

1. `callbacks_place_due` (the periodic task `calls.callbacks_place_due`, every tenant) picks the
   callbacks the rules below allow now, records a `CallbackAttempt` ("dialing") for each, and after
   the commit asks LiveKit for a new room with the agent dispatched into it (`CreateRoom`, then
   `CreateAgentDispatch`); the dispatch's metadata carries a platform-signed grant naming the tenant
   and the attempt (`callback_grant_issue`), nothing else.
2. The worker hands the grant to `POST /internal/calls/start` unchanged (as a test call hands its
   grant): the API creates the outbound call, links it to the attempt and returns the call config
   with the number to dial, the business's number to show, the opening sentence ("you asked us to
   call you back about …") and the message for a voicemail, in the tenant's language.
3. The worker dials through the outbound trunk (`CreateSIPParticipant`, waiting for the answer),
   listens to the first speech to tell a person from a machine, and reports the result at
   `POST /internal/calls/<id>/callback-attempt` (`callback_attempt_record`): answered closes the
   callback (handled by the agent); voicemail, no answer, busy or failed schedules the next try
   `callback_retry_minutes` later, until `callback_max_attempts` tries have been made — then it stays
   open for a person.

Why the worker dials rather than the API: the worker must hear the call from its first audio (the
answering-machine check, the opening sentence at the answer), and a SIP participant created by the
API could be answered before any agent is in the room. Dispatching from here keeps the decision of
*whether* to call (the rules, the concurrency lock) in one transaction with the attempt row.

The rules (`callback_block_reason`), each in the business's zone (DST-correct: wall-clock hours):
the setting is on; the promised time (`call_after`) has passed; inside the calling window
(`callback_window_start_hour`–`callback_window_end_hour`, 09–20 by default) and inside opening hours;
the number is in the business's country (by country calling code: within one numbering plan such as
NANP every number is domestic) unless `callback_abroad_allowed`; the number is not on the do-not-call
list and has not texted STOP (messaging.SmsOptOut); fewer than `callback_max_attempts` tries; and at
most `callback_max_concurrent` attempts of the business are dialling or talking at once.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from calls.models import Call, CallbackAttempt, CallbackRequest, DoNotCall
from core import clock
from core.errors import DomainError, ToolOutcome
from core.grants import GrantRefused, grant_read, grant_sign
from core.phone import is_e164
from messaging.models import SmsOptOut
from tenants.agent.models import AgentSettings
from tenants.hours.selectors import business_is_open
from tenants.models import PhoneNumber, Tenant

logger = logging.getLogger("calls.callbacks")

GRANT_SALT = "soniq.calls.callback-grant.v1"
# A dispatch is taken by a worker within seconds; a grant older than this is from a dispatch that
# was lost, and its attempt has been given up (`STALE_ATTEMPT_MINUTES`).
GRANT_SECONDS = 300
# An attempt still "dialing" after this long was never reported (the worker died, the dispatch was
# lost): it is closed as failed so that it neither blocks the concurrency limit nor the next try.
STALE_ATTEMPT_MINUTES = 10
# An answered call that never ended (its log never came) stops counting as a call in progress.
LONGEST_CALL_MINUTES = 70
ROOM_PREFIX = "callback-"
AGENT_HANDLER = "the agent (called back)"
RESULTS_REPORTABLE = (CallbackAttempt.Result.ANSWERED, CallbackAttempt.Result.VOICEMAIL,
                      CallbackAttempt.Result.NO_ANSWER, CallbackAttempt.Result.BUSY, CallbackAttempt.Result.FAILED)


class InvalidCallbackGrant(Exception):
    pass


@dataclass(frozen=True)
class CallbackGrant:
    schema_name: str
    attempt_id: int


def callback_grant_issue(*, schema_name: str, attempt_id: int, now: dt.datetime | None = None) -> str:
    return grant_sign({"s": schema_name, "a": attempt_id}, salt=GRANT_SALT, valid_seconds=GRANT_SECONDS, now=now)


def callback_grant_read(grant: str) -> CallbackGrant:
    try:
        payload = grant_read(grant, salt=GRANT_SALT, fields={"s": str, "a": int}, what="the callback grant")
    except GrantRefused as exc:
        raise InvalidCallbackGrant(str(exc)) from exc
    return CallbackGrant(schema_name=payload["s"], attempt_id=payload["a"])


# --- the rules ---------------------------------------------------------------------------------

def number_is_opted_out(*, number: str) -> bool:
    """Asked in a call (or the owner marked it) not to be called, or texted STOP."""
    return (DoNotCall.objects.filter(number=number).exists()
            or SmsOptOut.objects.filter(number=number, opted_out=True).exists())


def number_is_domestic(*, number: str, country: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return parsed.country_code == phonenumbers.country_code_for_region(country)


def calling_window_open(*, tenant: Tenant, agent_settings: AgentSettings, now: dt.datetime) -> bool:
    """Inside the customer's calling window (the business's zone: wall-clock hours, whatever the
    DST offset) and inside opening hours."""
    local = now.astimezone(tenant.tzinfo)
    if not agent_settings.callback_window_start_hour <= local.hour < agent_settings.callback_window_end_hour:
        return False
    return business_is_open(at=now)


def callback_block_reason(*, callback_request: CallbackRequest, tenant: Tenant, agent_settings: AgentSettings,
                          now: dt.datetime) -> str:
    """Why the agent may not call this callback back now; "" when it may (the concurrency limit
    aside, which is the business's, not the callback's)."""
    if not agent_settings.agent_returns_callbacks:
        return "The agent does not return callbacks (agent settings)."
    if callback_request.status != CallbackRequest.Status.OPEN:
        return "The callback is done."
    if callback_request.call_id is not None and callback_request.call.is_test:
        return "A test call's callback is never called."
    number = callback_request.caller_number
    if not is_e164(number):
        return "The callback has no phone number."
    if number_is_opted_out(number=number):
        return "The customer asked not to be called."
    if not agent_settings.callback_abroad_allowed and not number_is_domestic(number=number, country=tenant.country):
        return "The number is outside the business's country."
    attempts = callback_request.attempts.all()
    if any(attempt.result == CallbackAttempt.Result.DIALING for attempt in attempts):
        return "An attempt is in progress."
    if len(attempts) >= agent_settings.callback_max_attempts:
        return "Every attempt has been made; the callback is left for a person."
    if callback_request.call_after is not None and callback_request.call_after > now:
        return "Not before the promised time."
    if not calling_window_open(tenant=tenant, agent_settings=agent_settings, now=now):
        return "Outside the calling window or opening hours."
    return ""


def _calls_in_progress(*, now: dt.datetime) -> int:
    return CallbackAttempt.objects.filter(
        Q(result=CallbackAttempt.Result.DIALING)
        | Q(result=CallbackAttempt.Result.ANSWERED, call__status=Call.Status.ACTIVE,
            started_at__gte=now - dt.timedelta(minutes=LONGEST_CALL_MINUTES))).count()


def callback_attempts_close_stale(*, now: dt.datetime) -> int:
    """Attempts a worker never reported, closed as failed (each then counts as a try)."""
    stale = list(CallbackAttempt.objects.filter(result=CallbackAttempt.Result.DIALING,
                                                started_at__lt=now - dt.timedelta(minutes=STALE_ATTEMPT_MINUTES)))
    for attempt in stale:
        callback_attempt_record(attempt_id=attempt.pk, result=CallbackAttempt.Result.FAILED,
                                detail="The voice worker never reported this attempt.", now=now)
    return len(stale)


def outbound_calling_missing() -> list[str]:
    """The platform settings without which no callback can be dialled (none: it can)."""
    return [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "SIP_OUTBOUND_ADDRESS")
            if not getattr(settings, name)]


# --- placing the calls -------------------------------------------------------------------------

Dispatch = Callable[..., None]


def callbacks_place_due(*, tenant: Tenant, now: dt.datetime, dispatch: Dispatch | None = None) -> list[CallbackAttempt]:
    """In the current tenant: the attempts started now, each dispatched to the agent after the commit.
    `dispatch(room=, metadata=)` defaults to LiveKit (`livekit_dispatch`)."""
    callbacks_stale = callback_attempts_close_stale(now=now)
    if callbacks_stale:
        logger.warning("%d callback attempt(s) in %s were never reported; closed as failed", callbacks_stale,
                       tenant.schema_name)
    with transaction.atomic():
        # The settings row is the business's lock: two sweeps at once (a slow run overlapping the
        # next beat) must not both see a free line and dial past callback_max_concurrent.
        agent_settings = AgentSettings.objects.select_for_update().first()
        if agent_settings is None or not agent_settings.agent_returns_callbacks:
            return []
        if not calling_window_open(tenant=tenant, agent_settings=agent_settings, now=now):
            return []
        free = agent_settings.callback_max_concurrent - _calls_in_progress(now=now)
        started: list[CallbackAttempt] = []
        candidates = (CallbackRequest.objects.filter(status=CallbackRequest.Status.OPEN)
                      .filter(Q(call_after__isnull=True) | Q(call_after__lte=now))
                      .select_related("call").prefetch_related("attempts").order_by("call_after", "created"))
        for callback_request in candidates:
            if len(started) >= free:
                break
            if callback_block_reason(callback_request=callback_request, tenant=tenant,
                                     agent_settings=agent_settings, now=now):
                continue
            started.append(CallbackAttempt.objects.create(
                callback_request=callback_request, room=f"{ROOM_PREFIX}{uuid.uuid4().hex[:16]}", started_at=now))
        for attempt in started:
            transaction.on_commit(lambda attempt=attempt: _dispatch(attempt, tenant=tenant, now=now,
                                                                     dispatch=dispatch or livekit_dispatch))
    return started


def _dispatch(attempt: CallbackAttempt, *, tenant: Tenant, now: dt.datetime, dispatch: Dispatch) -> None:
    metadata = json.dumps({"callback_grant": callback_grant_issue(schema_name=tenant.schema_name,
                                                                  attempt_id=attempt.pk, now=now)})
    try:
        dispatch(room=attempt.room, metadata=metadata)
    except Exception as exc:
        logger.warning("callback attempt %s in %s: the agent could not be dispatched: %s", attempt.pk,
                       tenant.schema_name, exc)
        # After the commit the schema may be another (a sweep moves on to the next tenant).
        with tenant_context(tenant):
            callback_attempt_record(attempt_id=attempt.pk, result=CallbackAttempt.Result.FAILED,
                                    detail=f"The agent could not be dispatched ({exc.__class__.__name__}).",
                                    now=clock.now())


def livekit_dispatch(*, room: str, metadata: str) -> None:
    """A new room with the agent dispatched into it (explicit dispatch to VOICE_AGENT_NAME)."""
    from livekit import api

    async def send() -> None:
        async with api.LiveKitAPI(settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET) as lkapi:
            # Empty for long: the agent joins first and the callee's leg joins only at the answer.
            await lkapi.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=120, departure_timeout=10))
            await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name=settings.VOICE_AGENT_NAME, room=room, metadata=metadata))

    asyncio.run(send())


# --- what the worker reports, and the owner's marks ---------------------------------------------

def callback_call_start(*, attempt_id: int, room: str, now: dt.datetime) -> tuple[CallbackAttempt, Call]:
    """The outbound call of an attempt that is dialling, created once: the caller-number column
    holds the customer (the other end of the line), the called-number column the business's number
    the customer sees."""
    with transaction.atomic():
        attempt = (CallbackAttempt.objects.select_for_update(of=("self",)).select_related("callback_request")
                   .filter(pk=attempt_id).first())
        if attempt is None:
            raise DomainError("unknown_callback", "This callback attempt does not exist.")
        if attempt.result != CallbackAttempt.Result.DIALING or attempt.call_id is not None:
            raise DomainError("callback_attempt_taken", "This callback attempt has already been started.")
        agent_settings = AgentSettings.objects.get()
        call = Call.objects.create(
            called_number=business_number(), caller_number=attempt.callback_request.caller_number,
            room=room.strip()[:200] or attempt.room, status=Call.Status.ACTIVE, started_at=now,
            max_call_seconds=agent_settings.max_call_seconds,
        )
        attempt.call = call
        attempt.save(update_fields=["call"])
    return attempt, call


def business_number() -> str:
    """The number the business's callers ring (the first registered): the caller id of its callbacks."""
    from django.db import connection

    phone_number = PhoneNumber.objects.filter(tenant__schema_name=connection.schema_name).order_by("number").first()
    return phone_number.number if phone_number else ""


def callback_attempt_record(*, attempt_id: int, result: str, detail: str = "", now: dt.datetime) -> CallbackAttempt:
    """How an attempt ended. Answered closes the callback as handled by the agent; anything else
    schedules the next try `callback_retry_minutes` from now while tries are left. Reporting the
    same result twice changes nothing; a different one after the first is refused."""
    if result not in RESULTS_REPORTABLE:
        raise DomainError("invalid_result", f"The result must be one of: {', '.join(RESULTS_REPORTABLE)}.")
    with transaction.atomic():
        attempt = (CallbackAttempt.objects.select_for_update(of=("self",)).select_related("callback_request", "call")
                   .filter(pk=attempt_id).first())
        if attempt is None:
            raise DomainError("unknown_callback", "This callback attempt does not exist.")
        if attempt.result != CallbackAttempt.Result.DIALING:
            if attempt.result == result:
                return attempt
            raise DomainError("attempt_already_recorded",
                              f"This attempt already ended as {attempt.get_result_display().lower()}.")
        attempt.result, attempt.detail, attempt.ended_at = result, detail.strip()[:300], now
        attempt.save(update_fields=["result", "detail", "ended_at"])
        callback_request = CallbackRequest.objects.select_for_update().get(pk=attempt.callback_request_id)
        agent_settings = AgentSettings.objects.get()
        if result == CallbackAttempt.Result.ANSWERED:
            if callback_request.status == CallbackRequest.Status.OPEN:
                callback_request.status, callback_request.handled_by = CallbackRequest.Status.DONE, AGENT_HANDLER
                callback_request.done_at = now
                callback_request.save(update_fields=["status", "handled_by", "done_at"])
        else:
            if callback_request.attempts.count() < agent_settings.callback_max_attempts:
                callback_request.call_after = now + dt.timedelta(minutes=agent_settings.callback_retry_minutes)
                callback_request.save(update_fields=["call_after"])
            call = attempt.call
            if result != CallbackAttempt.Result.VOICEMAIL and call is not None and call.status == Call.Status.ACTIVE:
                # Nobody was on the line: no log will come for this call; it ends here.
                call.status, call.ended_at, call.duration_seconds = Call.Status.ENDED, now, 0
                call.outcome, call.end_reason = Call.Outcome.OTHER, f"Callback: {attempt.get_result_display().lower()}."
                call.save(update_fields=["status", "ended_at", "duration_seconds", "outcome", "end_reason"])
    return attempt


def do_not_call_add(*, number: str, noted_by: str, call: Call | None = None) -> DoNotCall:
    """The customer asked not to be called: never dialled again, and their open callbacks closed."""
    with transaction.atomic():
        entry, _created = DoNotCall.objects.get_or_create(number=number, defaults={"call": call, "noted_by": noted_by[:150]})
        CallbackRequest.objects.filter(caller_number=number, status=CallbackRequest.Status.OPEN).update(
            status=CallbackRequest.Status.DONE, handled_by="asked not to be called"[:150], done_at=clock.now())
    return entry


def callback_call_do_not_call(*, call: Call) -> ToolOutcome:
    """The voice tool `do_not_call`: the customer the agent called back asked not to be called again."""
    if not CallbackAttempt.objects.filter(call=call).exists():
        raise DomainError("not_a_callback", _("This is not a call we placed, so there is nothing to stop."))
    do_not_call_add(number=call.caller_number, noted_by="the customer, in the agent's call", call=call)
    return ToolOutcome(result={"do_not_call": call.caller_number},
                       message=_("Noted: we will not call this number again."))
