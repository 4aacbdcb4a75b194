"""The one clock. Code that asks "what time is it" calls `clock.now()` (looked up at call time, as
`from core import clock; clock.now()`), so a test can pin the time with
`monkeypatch.setattr("core.clock.now", lambda: fixed)` — including inside a live test server,
which runs in the test's own process — instead of sleeping or depending on today's date."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return timezone.now()
