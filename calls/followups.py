"""What follows what happens on a call, one function per action: the owner's email and staff text,
and the webhook event (`notifications.events` records both). `calls.services` and the end-of-call
tasks register exactly one of these with `core.after_response.followup_after_commit`, or call it
once the work it follows is stored.

    callback_queued   call_transfer_request (nobody to transfer to: a callback is promised)
    transfer_failed   call_transfer_request with transfer_failed (the worker's REFER did not go through)
    message_taken     call_note_add (the agent's log_note)
    transfer_starting call_transfer_request, when the business texts its staff phone before a transfer
    call_ended        calls.summaries.tasks (after the summary, or without it)
"""
from __future__ import annotations

from calls.models import Call, CallbackRequest, CallNote
from messaging.models import SmsMessage
from messaging.sms import sms_staff_queue
from notifications import events


def callback_queued(*, callback_request: CallbackRequest) -> None:
    """The owner's email and staff text, and `callback.created`."""
    events.callback_requested(callback_request=callback_request, transfer_failed=False)


def transfer_failed(*, callback_request: CallbackRequest) -> None:
    """As `callback_queued`, told as a failed transfer (a notification event of its own)."""
    events.callback_requested(callback_request=callback_request, transfer_failed=True)


def message_taken(*, call_note: CallNote) -> None:
    """The owner's email and staff text with the caller's message."""
    events.message_left(call_note=call_note)


def call_ended(*, call: Call, summary=None) -> None:
    """`call.ended`, with the call's summary when there is one."""
    events.call_ended(call=call, summary=summary)


def transfer_starting(*, call: Call, staff_number: str, reason: str) -> None:
    """The text to the staff phone that is about to ring: who is calling and why, so the person who
    picks up is not the caller's first listener."""
    caller = call.caller_number or "a withheld number"
    sms_staff_queue(kind=SmsMessage.Kind.TRANSFER_CONTEXT, to_number=staff_number, call=call,
                    body=f"Transferring a call from {caller} to you now. Reason: {reason.strip() or 'not given'}")
