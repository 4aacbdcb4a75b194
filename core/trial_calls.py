"""Test calls: the calls an owner makes to try their agent (the admin's "Talk to your agent", a
scenario run). They are stored like any call, marked `Call.is_test`, and nothing that follows from
them may reach a person: no text to a customer, no email, staff text or webhook. Every follow-up
asks `from_test_call` about the record it is handed, so no sender can forget it.
"""
from __future__ import annotations

from typing import Any


def from_test_call(record: Any) -> bool:
    """Whether `record` is a test call, or a booking, order, callback request, note or booking change
    made by one (anything with a `call`). Duck-typed: the layers below `calls` cannot import it."""
    if record is None:
        return False
    if getattr(record, "is_test", False) is True:
        return True
    call = getattr(record, "call", None)
    return call is not None and getattr(call, "is_test", False) is True
