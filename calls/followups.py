"""What follows what happens on a call, one function per action: the owner's email and staff text,
and the webhook event (`notifications.events` records both). `calls.services` and the end-of-call
tasks register exactly one of these with `transaction.on_commit(..., robust=True)`, or call it once
the work it follows is stored.

    callback_queued   call_transfer_request (nobody to transfer to: a callback is promised)
    transfer_failed   call_transfer_request with transfer_failed (the worker's REFER did not go through)
    message_taken     call_note_add (the agent's log_note)
    call_ended        calls.summaries.tasks (after the summary, or without it)
"""
from __future__ import annotations

from calls.models import Call, CallbackRequest, CallNote
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
