"""Reading the dates and times a model passes to the booking tools (`2026-03-10`, `today`, `14:30`,
`2pm`, `14:30+01:00`, full ISO 8601) as aware datetimes in the tenant's zone, refusing what does not
exist (a wall time inside a spring-forward gap) with a sentence the agent can say."""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.utils.translation import gettext as _

from bookings.availability import booking_policy_get
from bookings.refusals import too_far_ahead_sentence
from core import clock
from core.errors import DomainError
from core.phrasing import calendar_date, spoken_clock
from tenants.hours.selectors import local_datetime

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE)
_AM_PM_RE = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](.+)", re.IGNORECASE)
_EXAMPLE_DATE = "2026-03-10"


def _invalid_time(text: str) -> DomainError:
    return DomainError("invalid_time", _("I couldn't understand the time {time}; please give it like 14:30.").format(
                           time=repr(text[:40])),
                       details={"field": "time"})


def _date_from_text(text: str) -> dt.date:
    if not _DATE_RE.fullmatch(text):
        raise DomainError("invalid_date", _("I couldn't understand the date {date}; please give it like {example}.").format(
                              date=repr(text[:40]), example=_EXAMPLE_DATE),
                          details={"field": "date"})
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DomainError("invalid_date", _("There is no such day as {date} in the calendar; which day did you mean?").format(
                              date=text),
                          details={"field": "date"}) from None


def _day_in_reach(day: dt.date, *, today: dt.date, field: str) -> dt.date:
    """`day`, or a 422 when it is too far from `today` to be meant: `too_far_ahead` (the horizon's
    sentence) or `in_the_past`."""
    if clock.date_in_reach(day, today=today):
        return day
    if day > today:
        raise DomainError("too_far_ahead", too_far_ahead_sentence(policy=booking_policy_get(), today=today),
                          details={"field": field})
    raise DomainError("in_the_past", _("{date} is long past; which day did you mean?").format(date=day.isoformat()),
                      details={"field": field})


def local_date_parse(value: str | dt.date, *, today: dt.date) -> dt.date:
    """`2026-03-10`, `today` or `tomorrow` (relative to `today`, the tenant's local date).
    Raises `DomainError("invalid_date")` for anything else, impossible dates included, and
    `too_far_ahead` / `in_the_past` for a day out of reach (see clock.DATE_REACH_DAYS)."""
    if isinstance(value, dt.datetime):
        return _day_in_reach(value.date(), today=today, field="date")
    if isinstance(value, dt.date):
        return _day_in_reach(value, today=today, field="date")
    if not isinstance(value, str):
        raise DomainError("invalid_date", _("Which day? Please give the date like {example}.").format(example=_EXAMPLE_DATE),
                          details={"field": "date"})
    text = value.strip().lower()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + dt.timedelta(days=1)
    return _day_in_reach(_date_from_text(text), today=today, field="date")


def _offset_from_text(text: str, original: str) -> dt.tzinfo:
    if text.upper() == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise _invalid_time(original)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _clock_from_text(text: str) -> tuple[dt.time, dt.tzinfo | None]:
    """`14:30`, `9:05`, `14:30:00`, `14:30+01:00`, `14:30Z`, `2pm`, `2:30 p.m.` -> (wall time, offset or None).
    Seconds are dropped: bookings are made to the minute."""
    stripped = text.strip()
    match = _CLOCK_RE.fullmatch(stripped)
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise _invalid_time(text)
        offset = _offset_from_text(match[4], text) if match[4] else None
        return dt.time(hour, minute), offset
    match = _AM_PM_RE.fullmatch(stripped)
    if match:
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise _invalid_time(text)
        hour = hour % 12 + (12 if match[3].lower() == "p" else 0)
        return dt.time(hour, minute), None
    raise _invalid_time(text)


def _wall_clock_datetime(day: dt.date, clock: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """`clock` on `day` as the tenant's wall clock shows it. A wall time that does not exist (inside
    a spring-forward gap) is refused rather than silently moved: the caller should hear about it."""
    local = local_datetime(day, clock, tz)
    if (local.hour, local.minute) != (clock.hour, clock.minute):
        raise DomainError(
            "invalid_time",
            _("The clocks go forward on {date}, so {time} doesn't exist that day; did you mean {suggested}?").format(
                date=calendar_date(day), time=spoken_clock(clock), suggested=spoken_clock(local)),
            details={"field": "time", "suggested": local.isoformat()},
        )
    return local


def _aware_local(day: dt.date, clock: dt.time, offset: dt.tzinfo | None, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    if offset is None:
        return _wall_clock_datetime(day, clock, tz)
    return dt.datetime.combine(day, clock, tzinfo=offset).astimezone(tz)


def _datetime_value(value: dt.datetime, tz: zoneinfo.ZoneInfo, *, today: dt.date, field: str) -> dt.datetime:
    _day_in_reach(value.date(), today=today, field=field)
    value = value.replace(second=0, microsecond=0)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(tz)
    return _wall_clock_datetime(value.date(), value.time(), tz)


def requested_start_parse(*, day: dt.date, time: str | dt.time | dt.datetime | None,
                          tz: zoneinfo.ZoneInfo, today: dt.date) -> dt.datetime | None:
    """The start a caller asks about, in the tenant's zone: `time` is `14:30` (local time on `day`),
    `14:30-05:00` (an offset is honoured and converted), or a full ISO 8601 datetime (its own date
    wins). None when no time was given. A day out of reach of `today` is refused (clock.DATE_REACH_DAYS)."""
    if time is None or (isinstance(time, str) and not time.strip()):
        return None
    if isinstance(time, dt.datetime):
        return _datetime_value(time, tz, today=today, field="time")
    day = _day_in_reach(day, today=today, field="date")
    if isinstance(time, dt.time):
        return _aware_local(day, time.replace(second=0, microsecond=0, tzinfo=None), time.tzinfo, tz)
    if not isinstance(time, str):
        raise _invalid_time(repr(time))
    match = _DATETIME_RE.fullmatch(time.strip())
    if match:
        day = _day_in_reach(_date_from_text(match[1]), today=today, field="time")
        clock, offset = _clock_from_text(match[2])
    else:
        clock, offset = _clock_from_text(time)
    return _aware_local(day, clock, offset, tz)


def booking_start_parse(*, start: str | dt.datetime, tz: zoneinfo.ZoneInfo, today: dt.date) -> dt.datetime:
    """A booking's start: `2026-03-10T14:30` (local), `2026-03-10 14:30`, or with an offset
    (`2026-03-10T19:30Z`, `…-04:00`) converted to local. Raises invalid_date / invalid_time, and
    too_far_ahead / in_the_past for a day out of reach of `today` (clock.DATE_REACH_DAYS)."""
    if isinstance(start, dt.datetime):
        return _datetime_value(start, tz, today=today, field="start")
    if not isinstance(start, str):
        raise DomainError("invalid_time", _("When should the booking start? Please give it like 2026-03-10T14:30."),
                          details={"field": "start"})
    match = _DATETIME_RE.fullmatch(start.strip())
    if not match:
        raise DomainError("invalid_time",
                          _("I couldn't understand the start {start}; please give the date and time like "
                            "2026-03-10T14:30.").format(start=repr(start[:40])),
                          details={"field": "start"})
    day = _day_in_reach(_date_from_text(match[1]), today=today, field="start")
    clock, offset = _clock_from_text(match[2])
    return _aware_local(day, clock, offset, tz)
