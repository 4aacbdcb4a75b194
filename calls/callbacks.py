"""Working the callback queue: the people the agent promised a call back to.

(Queuing a callback is the voice API's job, in calls/services.py; this module is what the business
does with the queue afterwards.)
"""
from __future__ import annotations

from django.db import transaction

from calls.models import CallbackRequest
from core import clock
from core.errors import DomainError


def callback_request_mark_done(*, callback_request_id: int, handled_by: str) -> CallbackRequest:
    """Close an open callback request, recording who handled it and when. Marking one that is
    already done changes nothing and keeps the first handler (two people clicking at once must not
    overwrite each other's name)."""
    with transaction.atomic():
        callback_request = CallbackRequest.objects.select_for_update().filter(pk=callback_request_id).first()
        if callback_request is None:
            raise DomainError("callback_not_found", f"Callback request #{callback_request_id} does not exist.")
        if callback_request.status == CallbackRequest.Status.DONE:
            return callback_request
        callback_request.status = CallbackRequest.Status.DONE
        callback_request.handled_by = handled_by[:150]
        callback_request.done_at = clock.now()
        callback_request.save(update_fields=["status", "handled_by", "done_at"])
    return callback_request


def callback_request_reopen(*, callback_request_id: int) -> CallbackRequest:
    """Put a request back in the queue (marked done by mistake, or nobody answered)."""
    with transaction.atomic():
        callback_request = CallbackRequest.objects.select_for_update().filter(pk=callback_request_id).first()
        if callback_request is None:
            raise DomainError("callback_not_found", f"Callback request #{callback_request_id} does not exist.")
        callback_request.status = CallbackRequest.Status.OPEN
        callback_request.handled_by = ""
        callback_request.done_at = None
        callback_request.save(update_fields=["status", "handled_by", "done_at"])
    return callback_request
