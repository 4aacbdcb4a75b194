"""Reads about when the business is open and what callers can book, in the tenant's own time zone.

Opening hours are wall-clock times ("09:00–17:00" on Mondays). They are turned into aware datetimes
per date with `zoneinfo`, so a day on which clocks change still opens at 09:00 local time.

The booking rules (`availability_check` reads them, `bookings.services.booking_create` enforces
the same ones through `BookingRules.start_problem`):
- A booking must lie wholly inside one opening range of its day: the service itself ends by that
  range's closing time. Its clean-up buffer may run past closing or into a lunch break (no customer
  is there for it), but it keeps the next booking of that service waiting.
- Durations and buffers are elapsed time; starts are wall-clock times. On the day clocks go
  forward, wall times inside the gap do not exist (not offered; asked for, they are refused with
  the real time suggested). On the day they go back, a repeated wall time is offered once, at its
  first occurrence; the second one can still be asked for or booked with its offset.
- Start times are offered on the policy's grid (every `slot_interval_minutes` from each range's
  opening). The grid is what the agent offers, not a rule: a start off the grid that fits is
  accepted, so a caller who insists on 10:10 can have it.
- Minimum notice: a start at least `min_notice_minutes` after now. Horizon: a start on a local date
  no later than today + `horizon_days` (the whole of that day).
- Capacity: at most `capacity` confirmed bookings whose [start, blocked_until) overlap, each on its
  own lane (see `free_lane`); the database's exclusion constraint enforces the lanes.
- All comparisons are made in UTC: Python compares two datetimes of the same ZoneInfo by their wall
  clock alone, which is wrong in the repeated hour of an autumn clock change.
"""
from __future__ import annotations

import copy
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, replace

from django.db import connection

from bookings import matching
from bookings.models import Booking, BookingPolicy, Closure, OpeningHours, Service
from soniq_site import clock
from soniq_site.domain import DomainError, ToolOutcome

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def tenant_timezone() -> zoneinfo.ZoneInfo:
    """The time zone of the tenant whose schema is active."""
    from tenants.selectors import current_tenant

    return current_tenant().tzinfo


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


# --- services ------------------------------------------------------------------------------------

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}


def a_service(service: Service) -> str:
    """'a Haircut', 'an Eyebrow Wax'."""
    return f"{'an' if service.name[:1].lower() in 'aeiou' else 'a'} {service.name}"


def _spoken_service_list(names: list[str]) -> str:
    return spoken_list(names, conjunction="and") if names else "nothing at the moment"


def service_match(*, spoken_name: str) -> Service:
    """The active service a caller means by `spoken_name` (see `bookings.matching` for how).

    Raises `DomainError("unknown_service")` (422) with a sentence naming the services offered, and
    `details={"services": [names]}`.
    """
    services = list(Service.objects.filter(active=True).order_by("name"))
    spoken = spoken_name if isinstance(spoken_name, str) else ""
    service = matching.best_match(spoken, ((service, [service.name, *service.aliases]) for service in services))
    if service is not None:
        return service
    names = [service.name for service in services]
    if spoken.strip():
        message = f"Sorry, we don't offer {spoken.strip()[:80]}. We offer {_spoken_service_list(names)}."
    else:
        message = f"Which service would you like? We offer {_spoken_service_list(names)}."
    raise DomainError("unknown_service", message, details={"services": names})


def _spoken_price(price, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{price}" if symbol else f"{price} {currency}"


def services_summary() -> str:
    """One line per bookable service for the agent's instructions:
    `- Haircut (45 min, $45.00); callers may also say: cut, trim`."""
    lines = []
    for service in Service.objects.filter(active=True).order_by("name"):
        facts = [f"{service.duration_minutes} min"]
        if service.price is not None:
            facts.append(_spoken_price(service.price, service.currency))
        line = f"- {service.name} ({', '.join(facts)})"
        if service.description:
            line += f": {service.description}"
        if service.aliases:
            line += f"; callers may also say: {', '.join(service.aliases)}"
        lines.append(line)
    return "\n".join(lines) or "No services can be booked at the moment."


# --- speaking about times ------------------------------------------------------------------------

def spoken_list(items: list[str], *, conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def spoken_clock(moment: dt.datetime) -> str:
    """`14:30`: the form the agent's instructions use for times, read well by every TTS voice."""
    return f"{moment:%H:%M}"


def calendar_date(day: dt.date) -> str:
    """'Tuesday 10 March 2026'."""
    return f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {day:%B %Y}"


def day_name(day: dt.date, *, today: dt.date) -> str:
    """'today', 'tomorrow', 'yesterday' or 'Tuesday 10 March' (the year only when it is not this year's)."""
    names = {0: "today", 1: "tomorrow", -1: "yesterday"}
    if (day - today).days in names:
        return names[(day - today).days]
    text = f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {day:%B}"
    return text if day.year == today.year else f"{text} {day.year}"


def spoken_day(day: dt.date, *, today: dt.date) -> str:
    """'today', 'tomorrow' or 'on Tuesday 10 March': the day as the end of a sentence says it."""
    name = day_name(day, today=today)
    return name if name in ("today", "tomorrow", "yesterday") else f"on {name}"


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _spoken_notice(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour's" if hours == 1 else f"{hours} hours'"
    return f"{minutes} minutes'"


# --- reading dates and times ---------------------------------------------------------------------

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE)
_AM_PM_RE = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](.+)", re.IGNORECASE)
_EXAMPLE_DATE = "2026-03-10"


def _invalid_time(text: str) -> DomainError:
    return DomainError("invalid_time", f"I couldn't understand the time {text[:40]!r}; please give it like 14:30.",
                       details={"field": "time"})


def _date_from_text(text: str) -> dt.date:
    if not _DATE_RE.fullmatch(text):
        raise DomainError("invalid_date", f"I couldn't understand the date {text[:40]!r}; please give it like {_EXAMPLE_DATE}.",
                          details={"field": "date"})
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DomainError("invalid_date", f"There is no such day as {text} in the calendar; which day did you mean?",
                          details={"field": "date"}) from None


def _day_in_reach(day: dt.date, *, today: dt.date, field: str) -> dt.date:
    """`day`, or a 422 when it is too far from `today` to be meant: `too_far_ahead` (the horizon's
    sentence) or `in_the_past`."""
    if clock.date_in_reach(day, today=today):
        return day
    if day > today:
        raise DomainError("too_far_ahead", _too_far_ahead_sentence(policy=booking_policy_get(), today=today),
                          details={"field": field})
    raise DomainError("in_the_past", f"{day.isoformat()} is long past; which day did you mean?", details={"field": field})


def local_date_parse(value: str | dt.date, *, today: dt.date) -> dt.date:
    """`2026-03-10`, `today` or `tomorrow` (relative to `today`, the tenant's local date).
    Raises `DomainError("invalid_date")` for anything else, impossible dates included, and
    `too_far_ahead` / `in_the_past` for a day out of reach (see clock.DATE_REACH_DAYS)."""
    if isinstance(value, dt.datetime):
        return _day_in_reach(value.date(), today=today, field="date")
    if isinstance(value, dt.date):
        return _day_in_reach(value, today=today, field="date")
    if not isinstance(value, str):
        raise DomainError("invalid_date", f"Which day? Please give the date like {_EXAMPLE_DATE}.", details={"field": "date"})
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
            f"The clocks go forward on {calendar_date(day)}, so {clock:%H:%M} doesn't exist "
            f"that day; did you mean {spoken_clock(local)}?",
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
        raise DomainError("invalid_time", "When should the booking start? Please give it like 2026-03-10T14:30.",
                          details={"field": "start"})
    match = _DATETIME_RE.fullmatch(start.strip())
    if not match:
        raise DomainError("invalid_time",
                          f"I couldn't understand the start {start[:40]!r}; please give the date and time like 2026-03-10T14:30.",
                          details={"field": "start"})
    day = _day_in_reach(_date_from_text(match[1]), today=today, field="start")
    clock, offset = _clock_from_text(match[2])
    return _aware_local(day, clock, offset, tz)


# --- availability --------------------------------------------------------------------------------

AVAILABLE_STARTS_SHOWN = 5
ALTERNATIVES_OFFERED = 3
UTC = dt.UTC


def booking_policy_get() -> BookingPolicy:
    return BookingPolicy.objects.order_by("pk").first() or BookingPolicy()


class _Calendar:
    """Opening hours and closures, read once for a run of days (one query each, not one per day)."""

    def __init__(self, *, tz: zoneinfo.ZoneInfo, first_day: dt.date, last_day: dt.date,
                 loaded: tuple[list[tuple[int, dt.time, dt.time]], set[dt.date]] | None = None):
        """`loaded`: (weekday, opens, closes) ordered by weekday and opens, and the closures between
        first_day and last_day, already read by the caller (booking_rules_load's single query)."""
        self.tz = tz
        self.hours: dict[int, list[tuple[dt.time, dt.time]]] = {weekday: [] for weekday in range(7)}
        if loaded is None:
            rows = list(OpeningHours.objects.order_by("weekday", "opens").values_list("weekday", "opens", "closes"))
            closed = set(Closure.objects.filter(date__gte=first_day, date__lte=last_day).values_list("date", flat=True))
        else:
            rows, closed = loaded
        for weekday, opens, closes in rows:
            self.hours[weekday].append((opens, closes))
        self.first_day, self.last_day = first_day, last_day
        self.closed = closed

    def is_closure(self, day: dt.date) -> bool:
        if self.first_day <= day <= self.last_day:
            return day in self.closed
        return is_closed_on(day)

    def wall_ranges_on(self, day: dt.date) -> list[tuple[dt.time, dt.time]]:
        return [] if self.is_closure(day) else self.hours[day.weekday()]

    def ranges_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """(opens, closes) in UTC: comparisons between datetimes of one ZoneInfo look at the wall clock
        only (fold ignored), which is wrong in the repeated hour of an autumn clock change."""
        return [(local_datetime(day, opens, self.tz).astimezone(UTC), local_datetime(day, closes, self.tz).astimezone(UTC))
                for opens, closes in self.wall_ranges_on(day)]


@dataclass(frozen=True)
class BookingSpan:
    """A booking's times in UTC. Durations are elapsed time: a 45-minute haircut starting at 01:30
    on the morning clocks go forward ends 45 minutes later, at 03:15 on the wall."""

    start: dt.datetime
    end: dt.datetime
    blocked_until: dt.datetime

    @classmethod
    def of(cls, service: Service, start: dt.datetime) -> BookingSpan:
        start = start.astimezone(UTC)
        end = start + dt.timedelta(minutes=service.duration_minutes)
        return cls(start=start, end=end, blocked_until=end + dt.timedelta(minutes=service.buffer_minutes))


def confirmed_bookings_between(service: Service, *, since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """(start, blocked_until, lane) of the service's confirmed bookings that overlap [since, until)."""
    return list(Booking.objects.filter(service=service, status=Booking.Status.CONFIRMED, start__lt=until,
                                       blocked_until__gt=since).values_list("start", "blocked_until", "lane"))


def _bookings_for_days(service: Service, *, first_day: dt.date, last_day: dt.date,
                       tz: zoneinfo.ZoneInfo) -> list[tuple[dt.datetime, dt.datetime, int]]:
    since = local_datetime(first_day, dt.time(0), tz)
    # A slot's blocked time ends at most `buffer` after closing, so no later than this.
    until = local_datetime(last_day + dt.timedelta(days=1), dt.time(0), tz).astimezone(UTC) + dt.timedelta(
        minutes=service.buffer_minutes)
    return confirmed_bookings_between(service, since=since, until=until)


def free_lane(*, overlapping_lanes: list[int], capacity: int) -> int | None:
    """The lowest lane (0..capacity-1) that none of the overlapping bookings occupies, or None.

    Both conditions are checked: fewer overlapping bookings than places (capacity is a count, so a
    booking left on lane 2 after capacity went down from 3 to 2 still takes a place), and a lane
    free, which is what the `booking_no_overlap_per_lane` exclusion constraint insists on."""
    if len(overlapping_lanes) >= capacity:
        return None
    taken = set(overlapping_lanes)
    return next((lane for lane in range(capacity) if lane not in taken), None)


def _lane_for(span: BookingSpan, bookings: list[tuple[dt.datetime, dt.datetime, int]], capacity: int) -> int | None:
    overlapping = [lane for start, blocked_until, lane in bookings if start < span.blocked_until and blocked_until > span.start]
    return free_lane(overlapping_lanes=overlapping, capacity=capacity)


def _grid_starts(day: dt.date, opens: dt.time, closes: dt.time, *, interval: int, tz: zoneinfo.ZoneInfo):
    """Start times every `interval` minutes from the range's opening, on the wall clock. Wall times
    that do not exist (spring forward) are skipped; a wall time that happens twice (fall back) is
    offered once, at its first occurrence, so the agent never reads out the same time twice."""
    minute, last = opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute
    while minute < last:
        wall = dt.time(minute // 60, minute % 60)
        local = local_datetime(day, wall, tz)
        if (local.hour, local.minute) == (wall.hour, wall.minute):
            yield local
        minute += interval


@dataclass
class BookingRules:
    service: Service
    policy: BookingPolicy
    tz: zoneinfo.ZoneInfo
    now: dt.datetime
    calendar: _Calendar

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    @property
    def last_day(self) -> dt.date:
        """The last local date a booking may start on: `horizon_days` after today, the whole day."""
        return self.today + dt.timedelta(days=self.policy.horizon_days)

    @property
    def earliest_start(self) -> dt.datetime:
        return self.now + dt.timedelta(minutes=self.policy.min_notice_minutes)

    def without_notice(self) -> BookingRules:
        """The same rules with no minimum notice: for the business's own staff, who may book any
        start from now on (and be offered such starts as alternatives)."""
        policy = copy.copy(self.policy)
        policy.min_notice_minutes = 0
        return replace(self, policy=policy)

    def start_problem(self, span: BookingSpan) -> str | None:
        """Why a booking with this span may not be made, as an error code, leaving capacity aside.

        The service itself must end by the closing time of the range it starts in; its clean-up
        buffer may run past closing (or into a lunch break), since no customer is there for it."""
        day = span.start.astimezone(self.tz).date()
        if span.start < self.now:
            return "in_the_past"
        if day > self.last_day:
            return "too_far_ahead"
        ranges = self.calendar.ranges_on(day)
        if not ranges:
            return "closed"
        if not any(opens <= span.start and span.end <= closes for opens, closes in ranges):
            return "outside_hours"
        if span.start < self.earliest_start:
            return "too_soon"
        return None


# The booking policy, opening hours and closures in one round trip. They were three ORM queries
# (booking_policy_get and _Calendar's two), about 30% of check_availability's in-process time on
# this machine, mostly query compilation; every availability check and booking loads them.
# Same rows and order as the ORM queries: the first policy by pk (defaults when there is none),
# hours by weekday then opens, closures from min(around, today) to max(around, today + horizon).
_POLICY_FIELDS = ["id", "min_notice_minutes", "horizon_days", "slot_interval_minutes", "change_notice_hours"]
_RULES_SQL = f"""
WITH policy AS (SELECT {", ".join(_POLICY_FIELDS)} FROM {BookingPolicy._meta.db_table} ORDER BY id LIMIT 1),
hours AS (SELECT weekday, opens, closes, id FROM {OpeningHours._meta.db_table})
SELECT {", ".join(f"policy.{name}" for name in _POLICY_FIELDS)},
    ARRAY(SELECT weekday FROM hours ORDER BY weekday, opens, id),
    ARRAY(SELECT opens FROM hours ORDER BY weekday, opens, id),
    ARRAY(SELECT closes FROM hours ORDER BY weekday, opens, id),
    ARRAY(SELECT date FROM {Closure._meta.db_table} WHERE date >= %(first_day)s AND date <= GREATEST(
        %(around)s, %(today)s + COALESCE((SELECT horizon_days FROM policy), %(default_horizon)s)))
FROM (SELECT 1) AS one LEFT JOIN policy ON true
"""


def booking_rules_load(*, service: Service, now: dt.datetime, around: dt.date) -> BookingRules:
    tz = tenant_timezone()
    today = now.astimezone(tz).date()
    default_policy = BookingPolicy()
    with connection.cursor() as cursor:
        cursor.execute(_RULES_SQL, {"first_day": min(around, today), "around": around, "today": today,
                                    "default_horizon": default_policy.horizon_days})
        row = cursor.fetchone()
    policy_values, (weekdays, opens, closes, closed) = row[:len(_POLICY_FIELDS)], row[len(_POLICY_FIELDS):]
    policy = (BookingPolicy.from_db(connection.alias, _POLICY_FIELDS, policy_values)
              if policy_values[0] is not None else default_policy)
    last_day = today + dt.timedelta(days=policy.horizon_days)
    calendar = _Calendar(tz=tz, first_day=min(around, today), last_day=max(around, last_day),
                         loaded=(list(zip(weekdays, opens, closes, strict=True)), set(closed)))
    return BookingRules(service=service, policy=policy, tz=tz, now=now, calendar=calendar)


@dataclass
class _Day:
    day: dt.date
    # "open" (free starts), "closed" (closure, no hours, or no range long enough), "past" (the day
    # is over, or what is left of it is inside the minimum notice), "full", "too_far_ahead".
    status: str
    free_starts: list[dt.datetime]  # local, earliest first


def _day_availability(rules: BookingRules, day: dt.date, bookings: list[tuple[dt.datetime, dt.datetime, int]]) -> _Day:
    if day > rules.last_day:
        return _Day(day, "too_far_ahead", [])
    if day < rules.today:
        return _Day(day, "past" if rules.calendar.wall_ranges_on(day) else "closed", [])
    ranges = rules.calendar.ranges_on(day)
    if ranges:
        # Only this day's bookings are compared with each slot (a search over weeks passes them all).
        day_opens, day_blocked_until = ranges[0][0], ranges[-1][1] + dt.timedelta(minutes=rules.service.buffer_minutes)
        bookings = [booking for booking in bookings if booking[0] < day_blocked_until and booking[1] > day_opens]
    fits = bookable = False
    free: list[dt.datetime] = []
    for (opens, closes), (_opens_utc, closes_utc) in zip(rules.calendar.wall_ranges_on(day), ranges, strict=True):
        for start in _grid_starts(day, opens, closes, interval=rules.policy.slot_interval_minutes, tz=rules.tz):
            span = BookingSpan.of(rules.service, start)
            if span.end > closes_utc:
                continue
            fits = True
            if span.start < rules.earliest_start:
                continue
            bookable = True
            if _lane_for(span, bookings, rules.service.capacity) is not None:
                free.append(start)
    status = "open" if free else "full" if bookable else "past" if fits else "closed"
    return _Day(day, status, free)


def _next_day_with_free_starts(rules: BookingRules, first_day: dt.date) -> _Day | None:
    if first_day > rules.last_day:
        return None
    bookings = _bookings_for_days(rules.service, first_day=first_day, last_day=rules.last_day, tz=rules.tz)
    day = first_day
    while day <= rules.last_day:
        if rules.calendar.wall_ranges_on(day):
            candidate = _day_availability(rules, day, bookings)
            if candidate.free_starts:
                return candidate
        day += dt.timedelta(days=1)
    return None


def _nearest(starts: list[dt.datetime], target: dt.datetime | None, limit: int) -> list[dt.datetime]:
    if target is None:
        return starts[:limit]
    target = target.astimezone(UTC)
    return sorted(starts, key=lambda start: (abs(start.astimezone(UTC) - target), start.astimezone(UTC)))[:limit]


@dataclass
class Offer:
    """Free start times to offer: on the requested day, or on the next day with any (`moved`)."""

    requested_day: _Day
    day: dt.date
    starts: list[dt.datetime]
    moved: bool


def _offer(rules: BookingRules, *, day: dt.date, requested: dt.datetime | None, limit: int,
           requested_day: _Day | None = None) -> Offer:
    if requested_day is None:
        bookings = _bookings_for_days(rules.service, first_day=day, last_day=day, tz=rules.tz)
        requested_day = _day_availability(rules, day, bookings)
    if requested_day.free_starts:
        return Offer(requested_day, day, _nearest(requested_day.free_starts, requested, limit), moved=False)
    if requested_day.status == "too_far_ahead":
        return Offer(requested_day, day, [], moved=False)
    next_day = _next_day_with_free_starts(rules, max(day + dt.timedelta(days=1), rules.today))
    if next_day is None:
        return Offer(requested_day, day, [], moved=False)
    # The same time of day on the new day, if the caller named one: "Saturday then? 14:00 is free."
    target = local_datetime(next_day.day, requested.astimezone(rules.tz).time().replace(tzinfo=None), rules.tz) if requested else None
    return Offer(requested_day, next_day.day, _nearest(next_day.free_starts, target, limit), moved=True)


def booking_alternatives(*, service: Service, around: dt.datetime, now: dt.datetime,
                         limit: int = ALTERNATIVES_OFFERED, rules: BookingRules | None = None) -> Offer:
    """Free start times to offer instead of `around`: the nearest ones that day, else the next day
    that has any (nearest to the same time of day). `rules`: the ones the caller already loaded for
    this service, `now` and `around`'s day (booking_create's refusals), saving their three queries."""
    day = around.astimezone(tenant_timezone()).date()
    rules = rules or booking_rules_load(service=service, now=now, around=day)
    return _offer(rules, day=day, requested=around, limit=limit)


def _too_far_ahead_sentence(*, policy: BookingPolicy, today: dt.date) -> str:
    last_day = today + dt.timedelta(days=policy.horizon_days)
    return (f"Sorry, we only take bookings up to {policy.horizon_days} days ahead, so the latest day I can book is "
            f"{day_name(last_day, today=today)}.")


def start_refusal_sentence(*, code: str, service: Service, start: dt.datetime, now: dt.datetime,
                           policy: BookingPolicy | None = None, calendar: _Calendar | None = None) -> str:
    """Why `start` cannot be booked, said to the caller (`code` from the rules above, or slot_taken).
    `policy` and `calendar` (covering `start`'s day), when the caller has them, save re-reading them."""
    tz = tenant_timezone()
    policy = policy or booking_policy_get()
    local, today = start.astimezone(tz), now.astimezone(tz).date()
    on_day = spoken_day(local.date(), today=today)
    at = spoken_clock(local)
    if code == "slot_taken":
        return f"Sorry, {at} {on_day} is already taken for {a_service(service)}."
    if code == "in_the_past":
        return f"{_capitalised(day_name(local.date(), today=today))} at {at} has already passed."
    if code == "too_far_ahead":
        return _too_far_ahead_sentence(policy=policy, today=today)
    if code == "closed":
        return f"Sorry, we're closed {on_day}."
    if code == "too_soon":
        return f"Sorry, we need at least {_spoken_notice(policy.min_notice_minutes)} notice, so {at} {on_day} is too soon."
    if code == "outside_hours":
        if calendar is None or not calendar.first_day <= local.date() <= calendar.last_day:
            calendar = _Calendar(tz=tz, first_day=local.date(), last_day=local.date())
        hours = spoken_list([f"{opens:%H:%M} to {closes:%H:%M}" for opens, closes in calendar.wall_ranges_on(local.date())])
        return (f"Sorry, a {service.duration_minutes}-minute {service.name} at {at} doesn't fit in our opening hours "
                f"{on_day}, which are {hours}.")
    return f"Sorry, {at} {on_day} can't be booked."


def offer_sentence(*, offer: Offer, today: dt.date, conjunction: str = "and") -> str:
    """'The nearest free times are 13:45, 15:00 and 15:15.' / 'The next free times are on …'."""
    if not offer.starts:
        return ""
    times = spoken_list([spoken_clock(start) for start in offer.starts], conjunction=conjunction)
    if offer.moved:
        return f"The next day with free times is {day_name(offer.day, today=today)}: {times}."
    return f"I can offer {times} {spoken_day(offer.day, today=today)}."


def _day_sentence(day: _Day, *, service: Service, today: dt.date) -> str:
    if day.status == "closed" and day.day >= today:
        return f"Sorry, we're closed {spoken_day(day.day, today=today)}."
    if day.status == "past" and day.day == today:
        return f"Sorry, there are no more times for {a_service(service)} left today."
    if day.status in ("closed", "past"):
        return f"{_capitalised(day_name(day.day, today=today))} has already passed."
    if day.status == "full":
        return f"Sorry, {a_service(service)} is fully booked {spoken_day(day.day, today=today)}."
    return ""


def _availability_message(*, rules: BookingRules, requested: dt.datetime | None, reason: str | None,
                          requested_day: _Day, offer: Offer) -> str:
    service, today = rules.service, rules.today
    on_day = spoken_day(requested_day.day, today=today)
    if requested is not None and reason is None:
        return f"Yes, {a_service(service)} {on_day} at {spoken_clock(requested)} is free."
    if requested is None and offer.starts and not offer.moved:
        return f"{_capitalised(on_day)} {a_service(service)} is free at {spoken_list([spoken_clock(s) for s in offer.starts])}."
    # Why not: the requested time's own reason when its day has other times (or is out of reach),
    # otherwise what is wrong with the whole day.
    if requested is not None and (requested_day.free_starts or reason == "too_far_ahead"):
        why = start_refusal_sentence(code=reason, service=service, start=requested, now=rules.now, policy=rules.policy)
    elif requested_day.status == "too_far_ahead":
        why = _too_far_ahead_sentence(policy=rules.policy, today=today)
    else:
        why = _day_sentence(requested_day, service=service, today=today)
    if offer.starts:
        return f"{why} {offer_sentence(offer=offer, today=today)}"
    if requested_day.status == "too_far_ahead":
        return why
    return f"{why} I couldn't find a free time for {a_service(service)} in the next {rules.policy.horizon_days} days."


def availability_check(*, service_name: str, date: str | dt.date, time: str | dt.time | dt.datetime | None = None,
                       now: dt.datetime | None = None) -> ToolOutcome:
    """Whether `service_name` can start at `time` on `date`, and the free start times nearest to it.

    `date` is `YYYY-MM-DD` (or `today` / `tomorrow`) in the tenant's zone; `time` is `HH:MM` local
    time, or carries an offset (honoured, converted to local), or is a full ISO 8601 datetime.
    When the day has no free start (closed, full, or already over) the next day with free starts
    within the booking horizon is offered instead and `moved_to_next_open_day` is true.

    Result: `service`, `duration_minutes`, `date` (the day `available_starts` are on),
    `requested_date`, `timezone`, `requested_start` (ISO with offset, or null),
    `requested_available` (bool, or null without a time), `requested_unavailable_reason`
    (`in_the_past`, `too_far_ahead`, `closed`, `outside_hours`, `too_soon`, `slot_taken`, or null),
    `day_status` (the requested day: `open`, `closed`, `past`, `full`, `too_far_ahead`),
    `moved_to_next_open_day`, `available_starts` (up to 5, ISO 8601 with offset, nearest to the
    requested time first, or earliest first without one).

    Raises `DomainError`: unknown_service, invalid_date, invalid_time, and too_far_ahead or
    in_the_past for a day more than clock.DATE_REACH_DAYS from today (all 422).
    """
    now = now or clock.now()
    tz = tenant_timezone()
    service = service_match(spoken_name=service_name)
    today = now.astimezone(tz).date()
    day = local_date_parse(date, today=today)
    requested = requested_start_parse(day=day, time=time, tz=tz, today=today)
    if requested is not None:
        day = requested.date()  # an offset can move the time onto another local day
    rules = booking_rules_load(service=service, now=now, around=day)
    bookings = _bookings_for_days(service, first_day=day, last_day=day, tz=tz)
    requested_day = _day_availability(rules, day, bookings)

    reason = None
    if requested is not None:
        span = BookingSpan.of(service, requested)
        reason = rules.start_problem(span)
        if reason is None and _lane_for(span, bookings, service.capacity) is None:
            reason = "slot_taken"
    offer = _offer(rules, day=day, requested=requested, limit=AVAILABLE_STARTS_SHOWN, requested_day=requested_day)
    message = _availability_message(rules=rules, requested=requested, reason=reason, requested_day=requested_day, offer=offer)

    result = {
        "service": service.name,
        "duration_minutes": service.duration_minutes,
        "date": offer.day.isoformat(),
        "requested_date": day.isoformat(),
        "timezone": str(tz.key),
        "requested_start": requested.isoformat() if requested is not None else None,
        "requested_available": None if requested is None else reason is None,
        "requested_unavailable_reason": reason,
        "day_status": requested_day.status,
        "moved_to_next_open_day": offer.moved,
        "available_starts": [start.isoformat() for start in offer.starts],
    }
    return ToolOutcome(result=result, message=message)


# --- a caller's own bookings -------------------------------------------------------------------
# Who may see or change a booking on the phone: the caller whose number it was booked under, or a
# caller on another phone (or with a withheld number) who gives that number *and* the name it was
# booked under. Anything else looks exactly like a booking that does not exist, so nobody can probe
# other people's appointments by trying numbers.

BOOKING_NOT_FOUND = ("I couldn't find that booking under your number. If it was booked from another phone, "
                     "tell me that number and the name it's under.")


@dataclass(frozen=True)
class CallerIdentity:
    """The numbers a caller has shown to own: the one they call from (when not withheld), and one
    they named together with a name (`named_phone`, `named_name`)."""

    caller_number: str = ""
    named_phone: str = ""
    named_name: str = ""

    def owns(self, booking: Booking) -> bool:
        if self.caller_number and booking.customer_phone == self.caller_number:
            return True
        return bool(self.named_phone and booking.customer_phone == self.named_phone
                    and matching.customer_name_matches(self.named_name, booking.customer_name))

    @property
    def phones(self) -> list[str]:
        return [phone for phone in {self.caller_number, self.named_phone} if phone]


def caller_identity(*, caller_number: str, customer_phone: str = "", customer_name: str = "") -> CallerIdentity:
    """The identity a tool call carries. `caller_number` is the call's (E.164 when shown); a number and
    a name given on the phone count only together.

    Raises `DomainError` 422 `verification_incomplete` when only one of the two is given, and
    `invalid_phone` when the number is not one."""
    from tenants.selectors import customer_phone_number

    shown = caller_number if caller_number.startswith("+") else ""
    customer_phone, customer_name = (customer_phone or "").strip(), " ".join((customer_name or "").split())
    if bool(customer_phone) != bool(customer_name):
        raise DomainError("verification_incomplete",
                          "To find a booking made from another phone I need both the phone number and the name "
                          "it was booked under.", details={"field": "customer_name" if customer_phone else "customer_phone"})
    named_phone = customer_phone_number(customer_phone) if customer_phone else ""
    return CallerIdentity(caller_number=shown, named_phone=named_phone, named_name=customer_name)


def bookings_upcoming_for(*, identity: CallerIdentity, now: dt.datetime) -> list[Booking]:
    """The confirmed bookings of the caller that have not ended yet, soonest first."""
    if not identity.phones:
        return []
    candidates = (Booking.objects.select_related("service")
                  .filter(customer_phone__in=identity.phones, status=Booking.Status.CONFIRMED, end__gt=now)
                  .order_by("start", "pk"))
    return [booking for booking in candidates if identity.owns(booking)]


def booking_for_caller(*, booking_id: int, identity: CallerIdentity, for_update: bool = False) -> Booking:
    """The booking `booking_id` if the caller may reach it. Raises `DomainError` 404
    `booking_not_found` for one they may not reach and for one that does not exist alike."""
    bookings = Booking.objects.select_related("service")
    if for_update:
        bookings = bookings.select_for_update(of=("self",))
    booking = bookings.filter(pk=booking_id).first() if 0 < booking_id < 2**31 else None
    if booking is None or not identity.owns(booking):
        raise DomainError("booking_not_found", BOOKING_NOT_FOUND, status=404)
    return booking


def change_deadline(*, booking: Booking, policy: BookingPolicy, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The last moment a caller may move or cancel `booking`: `change_notice_hours` before its start
    on the tenant's wall clock. "24 hours' notice" for 10:00 on the Sunday the clocks change means
    10:00 on the Saturday, as the business and the caller read it, not 09:00 or 11:00."""
    local_start = booking.start.astimezone(tz)
    wall = local_start.replace(tzinfo=None) - dt.timedelta(hours=policy.change_notice_hours)
    return local_datetime(wall.date(), wall.time(), tz).astimezone(UTC)


def booking_find(*, caller_number: str, customer_phone: str = "", customer_name: str = "",
                 now: dt.datetime | None = None) -> ToolOutcome:
    """find_bookings: the caller's upcoming bookings (see `caller_identity` for who the caller is).

    Result: `bookings`: [{`booking_id`, `service`, `start`, `end`, `status`}], times in the tenant's zone."""
    now = now or clock.now()
    identity = caller_identity(caller_number=caller_number, customer_phone=customer_phone, customer_name=customer_name)
    tz = tenant_timezone()
    bookings = bookings_upcoming_for(identity=identity, now=now)
    today = now.astimezone(tz).date()
    result = [{"booking_id": booking.pk, "service": booking.service.name, "start": booking.start.astimezone(tz).isoformat(),
               "end": booking.end.astimezone(tz).isoformat(), "status": booking.status} for booking in bookings]
    if not bookings:
        if identity.phones:
            message = BOOKING_NOT_FOUND.replace("that booking", "any upcoming booking")
        else:
            message = ("Your number is withheld, so I can't look your bookings up by it. What phone number and "
                       "name was the booking made under?")
    else:
        spoken = [f"{a_service(booking.service)} {spoken_day(booking.start.astimezone(tz).date(), today=today)} at "
                  f"{spoken_clock(booking.start.astimezone(tz))} (booking {booking.pk})" for booking in bookings[:5]]
        message = f"I found {spoken_list(spoken)}."
    return ToolOutcome(result={"bookings": result}, message=message)


def booking_history(*, booking: Booking) -> list[tuple[dt.datetime, str]]:
    """What happened to `booking`, oldest first, as (when, sentence) for the admin: how it was made
    (by phone or by staff), each move from -> to, and its cancellation (by the caller or by staff)."""
    tz = tenant_timezone()

    def spoken(moment: dt.datetime | None) -> str:
        local = moment.astimezone(tz) if moment else None
        return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}" if local else "?"

    history = [(booking.created, "Booked by phone" if booking.call_id else "Booked by staff")]
    for event in booking.events.all():
        if event.kind == "moved":
            sentence = f"Moved by the caller from {spoken(event.from_start)} to {spoken(event.to_start)}"
        elif event.kind == "cancelled_by_caller":
            sentence = "Cancelled by the caller" + (f" ({event.reason})" if event.reason else "")
        else:
            sentence = "Cancelled by staff"
        history.append((event.created, sentence))
    return history
