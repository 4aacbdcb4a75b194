"""The one error format and result shape shared by every domain service the voice tools call.

Services raise `DomainError` for anything the caller can fix or should hear about; the internal API
turns it into `{"ok": false, "error": {"code", "message"}}` and picks the HTTP status from the code
(`voiceapi.errors.ERROR_STATUS`): a domain knows what went wrong, not how HTTP says it. `message` is a sentence the
agent can say out loud. Successful tool services return a `ToolOutcome`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DomainError(Exception):
    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass
class ToolOutcome:
    result: dict[str, Any]
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
