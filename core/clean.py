"""Text from outside (a caller's name, a receiver's answer, a provider's error) made safe for where it
goes next: a mail header, a subject, a database text column. Cleaned where it enters a follow-up, so
no send path can fail on it later (issue 29, item 2: a caller name with `\\v` made the owner's email
raise on every retry; a NUL in a webhook answer made the delivery unsavable and re-POSTed forever)."""
from __future__ import annotations

import re

# C0 and C1 control characters and DEL, except tab and newline; plus the Unicode line and paragraph
# separators that mail and some terminals treat as line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# For one line: every control character, tab and newline included, and the separators.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _encodable(text: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8: PostgreSQL, SMTP and HTTP would all refuse it.
    return text.encode("utf-8", "replace").decode("utf-8")


def text_clean(text: str, *, max_length: int | None = None) -> str:
    """Multi-line text (a body, a stored answer): control characters removed but tab and newline,
    carriage returns dropped, at most `max_length` characters."""
    text = _CONTROL.sub("", _encodable(str(text)).replace("\r\n", "\n"))
    return text[:max_length] if max_length is not None else text


def line_clean(text: str, *, max_length: int | None = None) -> str:
    """One line (a subject, a header, a name): every run of control characters, CR and LF included,
    becomes one space; at most `max_length` characters."""
    text = " ".join(_LINE_BREAKING.sub(" ", _encodable(str(text))).split())
    return text[:max_length] if max_length is not None else text
