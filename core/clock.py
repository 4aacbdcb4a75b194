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


# A day further than this from today is not one anybody means (a slip of the tongue, or a probe:
# 9999-12-31), and near the ends of the calendar the arithmetic on it (the day's bounds in UTC, an
# offset, the next day) overflows. Every booking horizon is far inside it (at most 730 days).
DATE_REACH_DAYS = 10 * 366


def date_in_reach(day: dt.date, *, today: dt.date) -> bool:
    """Whether `day` is within DATE_REACH_DAYS of `today`: callers refuse or replace any other."""
    return abs((day - today).days) <= DATE_REACH_DAYS
