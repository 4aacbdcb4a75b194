"""Reads of the opening hours, in the tenant's zone (DST-correct: a day on which clocks change still
opens at 09:00 local time, see `local_datetime`)."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from core.weekdays import WEEKDAY_NAMES
from tenants.hours.models import Closure, OpeningHours
from tenants.selectors import tenant_timezone


def local_datetime(day: dt.date, clock: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """`clock` on `day` in `tz`. A wall time skipped by a spring-forward change is moved past the gap,
    and an ambiguous autumn time means its first occurrence (fold=0)."""
    naive = dt.datetime.combine(day, clock)
    aware = naive.replace(tzinfo=tz)
    round_trip = aware.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != naive:  # the wall time does not exist on this day (inside the DST gap)
        # fold=0 reads a gap time with the pre-change offset, which lands it after the gap.
        aware = aware.astimezone(dt.UTC).astimezone(tz)
    return aware


def is_closed_on(day: dt.date) -> bool:
    return Closure.objects.filter(date=day).exists()


def opening_ranges_on(day: dt.date, *, tz: zoneinfo.ZoneInfo | None = None) -> list[tuple[dt.datetime, dt.datetime]]:
    """The aware (opens, closes) ranges on `day` in local time, empty when closed that day."""
    tz = tz or tenant_timezone()
    if is_closed_on(day):
        return []
    return [
        (local_datetime(day, hours.opens, tz), local_datetime(day, hours.closes, tz))
        for hours in OpeningHours.objects.filter(weekday=day.weekday()).order_by("opens")
    ]


def business_is_open(*, at: dt.datetime) -> bool:
    tz = tenant_timezone()
    local = at.astimezone(tz)
    return any(opens <= local < closes for opens, closes in opening_ranges_on(local.date(), tz=tz))


def next_opening_after(*, at: dt.datetime, within_days: int = 14) -> dt.datetime | None:
    """The next moment the business opens after `at`, or None if it stays closed."""
    tz = tenant_timezone()
    local = at.astimezone(tz)
    for offset in range(within_days + 1):
        for opens, _closes in opening_ranges_on(local.date() + dt.timedelta(days=offset), tz=tz):
            if opens > local:
                return opens
    return None


def opening_hours_summary() -> str:
    """One line per weekday, as the agent's instructions present them: `Tuesday: 09:00–12:30, 13:30–18:00`."""
    by_day: dict[int, list[str]] = {day: [] for day in range(7)}
    for hours in OpeningHours.objects.order_by("weekday", "opens"):
        by_day[hours.weekday].append(f"{hours.opens:%H:%M}–{hours.closes:%H:%M}")
    return "\n".join(f"{WEEKDAY_NAMES[day]}: {', '.join(ranges) or 'closed'}" for day, ranges in by_day.items())


def upcoming_closures(*, from_date: dt.date, days: int = 60) -> list[Closure]:
    return list(Closure.objects.filter(date__gte=from_date, date__lte=from_date + dt.timedelta(days=days)))
