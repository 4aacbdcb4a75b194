"""How the internal API says a domain's refusal in HTTP. Services raise `DomainError(code, message)`;
this table alone picks the status, so a domain never knows it is behind HTTP."""
from __future__ import annotations

from core.errors import DomainError

# Anything not listed is 422: the request was understood and refused for a reason the agent can say.
ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "wrong_call": 403,
    "test_call_read_only": 403,
    "draft_expired": 410,
    "unknown_number": 404,
    "unknown_call": 404,
    "unknown_tool": 404,
    "order_not_found": 404,
    "callback_not_found": 404,
    "unknown_callback": 404,
    "not_a_callback": 404,
    "booking_not_found": 404,
    "call_ended": 409,
    "slot_taken": 409,
    "booking_cancelled": 409,
    "illegal_status_change": 409,
    "log_already_received": 409,
    "recording_already_received": 409,
    "attempt_already_recorded": 409,
    "callback_attempt_taken": 409,
    "invalid_recording": 400,
    "storage_unavailable": 503,
    "payload_too_large": 413,
    "ingestion_unavailable": 503,
}
DEFAULT_STATUS = 422


def http_status(error: DomainError) -> int:
    return ERROR_STATUS.get(error.code, DEFAULT_STATUS)
