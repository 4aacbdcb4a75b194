"""The one error format and result shape shared by every domain service the voice tools call.

Services raise `DomainError` for anything the caller can fix or should hear about; the internal API
turns it into `{"ok": false, "error": {"code", "message"}}` and picks the HTTP status from the code
(`voiceapi.errors.ERROR_STATUS`): a domain knows what went wrong, not how HTTP says it. `message` is a sentence the
agent can say out loud. Successful tool services return a `ToolOutcome`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The code of a request whose shape is wrong (a field missing, unknown or malformed): the internal
# API answers it 400, with the field named in the sentence and every field's errors in details.
INVALID_REQUEST = "invalid_request"


def sentence_tidied(message: str) -> str:
    """One period after an abbreviation that ends a sentence ("until six p.m.." → "p.m."): the times
    said in words (core.reading) end in one, and the sentences around them add theirs."""
    return message.replace("a.m..", "a.m.").replace("p.m..", "p.m.")


class DomainError(Exception):
    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None):
        message = sentence_tidied(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass
class ToolOutcome:
    result: dict[str, Any]
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.message = sentence_tidied(self.message)


def _first_field_error(detail: Any, path: str = "") -> tuple[str, str]:
    """The first (field path, message) in a nested error structure (DRF's, or `{path: [message]}`):
    `items[1].quantity`."""
    if isinstance(detail, dict):
        for name, sub in detail.items():
            if sub:
                if name in ("non_field_errors", "detail"):
                    child = path
                elif isinstance(name, int):  # list items come back keyed by index
                    child = f"{path}[{name}]"
                else:
                    child = f"{path}.{name}" if path else str(name)
                return _first_field_error(sub, child)
    if isinstance(detail, list):
        for index, sub in enumerate(detail):
            if sub:
                if isinstance(sub, (dict, list)):
                    return _first_field_error(sub, f"{path}[{index}]")
                return _first_field_error(sub, path)
    return path, str(detail)


def validation_message(detail: Any) -> str:
    """One sentence naming the field, so the model can fix its next tool call."""
    path, message = _first_field_error(detail)
    if not path:
        if "Expected a dictionary" in message:
            return "The request body must be a JSON object."
        return message
    if message.startswith("This field "):
        message = message[len("This field "):]
    if message[:1].islower():
        return f"The field {path} {message}"
    return f"The field {path} is not valid: {message}"


def invalid_request(fields: dict[str, list[str]]) -> DomainError:
    """The refusal of a request whose fields are wrong, in the same shape the API gives its own
    serializers' errors: 400 `invalid_request`, the first field's sentence, `details.fields`."""
    return DomainError(INVALID_REQUEST, validation_message(fields), details={"fields": fields})
