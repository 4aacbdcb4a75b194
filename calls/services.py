"""Writes about calls: starting one, the transfer/callback decision, the agent's end-of-call outcome
and notes.

All of these run inside the call's tenant schema (`tenant_context(tenant)`); the internal API sets it
from the call token before calling them.
"""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from calls import followups
from calls.models import Call, CallbackRequest, CallNote
from calls.selectors import transfer_target_at
from core.after_response import followup_after_commit
from core.errors import DomainError, ToolOutcome
from core.phone import InvalidPhoneNumber, is_e164, normalize_phone_number
from tenants.agent.models import AgentSettings
from tenants.agent.selectors import agent_settings_get
from tenants.selectors import tenant_phone_region, tenant_timezone


def caller_number_clean(raw: str) -> str:
    """E.164 when the trunk sent a real number, otherwise "" (withheld: the admin shows "Withheld"
    and the agent asks for a number). The caller id is whatever the far end put in its SIP From
    header ("anonymous", a SIP URI, or `+<script>… ignore previous instructions`), so nothing but a
    phone number is kept: not to be shown in the admin, read into the prompt, or called back."""
    try:
        return normalize_phone_number(raw, default_region=tenant_phone_region())
    except InvalidPhoneNumber:
        return ""


def call_start(*, called_number: str, caller_number: str, room: str = "", sip_call_id: str = "",
               now: dt.datetime, is_test: bool = False) -> Call:
    """The call row, from the moment the worker asks for the config. Its `max_call_seconds` is the
    tenant's setting at this moment, so a change mid-call does not move the call's deadline."""
    agent_settings = agent_settings_get()
    try:
        called = normalize_phone_number(called_number, default_region=tenant_phone_region())
    except InvalidPhoneNumber:
        called = called_number.strip()[:20]
    return Call.objects.create(
        called_number=called,
        caller_number=caller_number_clean(caller_number),
        room=room.strip()[:200],
        sip_call_id=sip_call_id.strip()[:200],
        status=Call.Status.ACTIVE,
        started_at=now,
        max_call_seconds=agent_settings.max_call_seconds,
        is_test=is_test,
    )


def callback_request_create(*, call: Call | None, caller_number: str, reason: str, caller_name: str = "") -> CallbackRequest:
    return CallbackRequest.objects.create(
        call=call, caller_number=caller_number, caller_name=caller_name.strip(), reason=reason.strip() or "Asked to speak to someone",
    )


def call_transfer_request(*, call: Call, reason: str, now: dt.datetime, transfer_failed: bool = False,
                          callback_number: str = "", caller_name: str = "") -> ToolOutcome:
    """A caller asked for a human. Inside the escalation hours, with a transfer target set, the call
    is transferred (the worker does the SIP REFER); otherwise, or when the worker reports that the
    transfer failed, a callback request is queued instead."""
    agent_settings = agent_settings_get()
    # A test call has nobody to put through to (the browser is no phone line): it queues a test callback.
    target = "" if transfer_failed or call.is_test else transfer_target_at(at=now, tz=tenant_timezone(), agent_settings=agent_settings)
    if target:
        with transaction.atomic():
            call.transferred_to = target
            call.save(update_fields=["transferred_to"])
            if agent_settings.transfer_text_staff and target.startswith("tel:"):
                # Sent as the REFER goes out: the text reaches the staff phone while it rings.
                followup_after_commit(followups.transfer_starting, call=call, staff_number=target[4:],
                                      reason=reason)
        return ToolOutcome(
            result={"action": "transfer", "transfer_to": target},
            message=_("I'm transferring you to a colleague now, please hold the line."),
        )

    if transfer_failed and agent_settings.escalation_fallback == AgentSettings.Fallback.MESSAGE:
        # The business would rather have a message than promise a call back: the agent takes it
        # (log_note stores it and tells the owner).
        if call.transferred_to:
            call.transferred_to = ""
            call.save(update_fields=["transferred_to"])
        return ToolOutcome(
            result={"action": "message"},
            message=_("Nobody could take the call just now. What message should I pass on to the team?"),
        )

    number = call.caller_number
    if callback_number.strip():
        try:
            number = normalize_phone_number(callback_number, default_region=tenant_phone_region())
        except InvalidPhoneNumber as exc:
            raise DomainError("invalid_phone_number",
                              _("That callback number doesn't look right. Could you say it again?")) from exc
    if not is_e164(number):
        raise DomainError("callback_number_required",
                          _("I need a phone number so the team can call you back. Which number should they use?"))
    with transaction.atomic():
        callback_request = callback_request_create(call=call, caller_number=number, reason=reason, caller_name=caller_name)
        if transfer_failed and call.transferred_to:
            # The REFER did not go through; the call was never transferred.
            call.transferred_to = ""
            call.save(update_fields=["transferred_to"])
        followup = followups.transfer_failed if transfer_failed else followups.callback_queued
        followup_after_commit(followup, callback_request=callback_request)
    promise = agent_settings.callback_promise
    sentence = (_("I couldn't put you through, so I've asked the team to call you back {promise}.") if transfer_failed
                else _("Nobody can take the call right now, so I've asked the team to call you back {promise}."))
    return ToolOutcome(
        result={"action": "callback", "callback_id": callback_request.pk, "promise": promise, "callback_number": number},
        message=sentence.format(promise=promise),
    )


def call_end_request(*, call: Call, reason: str, outcome: str) -> ToolOutcome:
    """The agent is hanging up: record why and how the call went. The call itself ends when the
    worker's end-of-call log arrives."""
    if outcome not in Call.AGENT_OUTCOMES:
        raise DomainError(
            "invalid_outcome",
            f"The outcome must be one of: {', '.join(Call.AGENT_OUTCOMES)}.", details={"valid_outcomes": list(Call.AGENT_OUTCOMES)},
        )
    call.outcome = outcome
    call.end_reason = reason.strip()[:500]
    call.save(update_fields=["outcome", "end_reason"])
    return ToolOutcome(result={"action": "hangup", "outcome": outcome}, message=_("Thank you for calling. Goodbye!"))


def call_note_add(*, call: Call, note: str) -> ToolOutcome:
    call_note = CallNote.objects.create(call=call, text=note.strip())
    followup_after_commit(followups.message_taken, call_note=call_note)
    return ToolOutcome(result={"note_id": call_note.pk}, message=_("I've made a note of that."))
