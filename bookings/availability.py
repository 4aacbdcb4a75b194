"""The availability engine: which starts a service can take on which days, in the tenant's own time zone.

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
import zoneinfo
from dataclasses import dataclass, replace

from django.db import connection

from bookings.models import Booking, BookingPolicy, Service
from calendars.services import BLOCKING_STATUSES, calendar_busy_rows_sql, calendar_places
from tenants.hours.models import Closure, OpeningHours
from tenants.hours.selectors import is_closed_on, local_datetime
from tenants.selectors import tenant_timezone

AVAILABLE_STARTS_SHOWN = 5
ALTERNATIVES_OFFERED = 3
UTC = dt.UTC


def booking_policy_get() -> BookingPolicy:
    return BookingPolicy.objects.order_by("pk").first() or BookingPolicy()


class OpeningCalendar:
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


def confirmed_bookings_between(service: Service, *, since: dt.datetime, until: dt.datetime,
                               excluding: int | None = None) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """(start, blocked_until, lane) of the service's confirmed bookings that overlap [since, until),
    but for the booking `excluding` (one being moved does not block itself), and the busy times of
    the business's connected calendars (lane -1: they take a place, no lane).

    One statement (UNION ALL) for both: the booking decision runs it under the service's row lock,
    where every round trip makes the next booker of the service wait longer (docs/BENCHMARKS.md,
    "create_booking against the trivial endpoint"). Without a connected calendar its half finds no
    row at the cost of an index probe, not of a round trip."""
    with connection.cursor() as cursor:
        cursor.execute(_BETWEEN_SQL, {
            "service_id": service.pk, "confirmed": Booking.Status.CONFIRMED.value, "since": since, "until": until,
            "excluding": excluding, "blocking_statuses": list(BLOCKING_STATUSES)})
        rows = cursor.fetchall()
    return [(start, end, lane) for start, end, lane, blocks in rows
            for _place in range(calendar_places(blocks=blocks, capacity=service.capacity))]


# SQL rather than a queryset: the ORM took 0.8 ms of CPU to compile the union on every booking,
# under the service's row lock (docs/BENCHMARKS.md, "create_booking against the trivial endpoint").
_BETWEEN_SQL = (
    f'SELECT "start", "blocked_until", "lane", NULL AS "blocks" FROM "{Booking._meta.db_table}" '
    'WHERE "service_id" = %(service_id)s AND "status" = %(confirmed)s AND "start" < %(until)s '
    'AND "blocked_until" > %(since)s AND "id" IS DISTINCT FROM %(excluding)s '
    f"UNION ALL {calendar_busy_rows_sql()}"
)


def bookings_for_days(service: Service, *, first_day: dt.date, last_day: dt.date,
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


def lane_for(span: BookingSpan, bookings: list[tuple[dt.datetime, dt.datetime, int]], capacity: int) -> int | None:
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
    calendar: OpeningCalendar

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
# (booking_policy_get and OpeningCalendar's two), about 30% of check_availability's in-process time on
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
    calendar = OpeningCalendar(tz=tz, first_day=min(around, today), last_day=max(around, last_day),
                         loaded=(list(zip(weekdays, opens, closes, strict=True)), set(closed)))
    return BookingRules(service=service, policy=policy, tz=tz, now=now, calendar=calendar)


@dataclass
class DayAvailability:
    day: dt.date
    # "open" (free starts), "closed" (closure, no hours, or no range long enough), "past" (the day
    # is over, or what is left of it is inside the minimum notice), "full", "too_far_ahead".
    status: str
    free_starts: list[dt.datetime]  # local, earliest first


def day_availability(rules: BookingRules, day: dt.date, bookings: list[tuple[dt.datetime, dt.datetime, int]]) -> DayAvailability:
    if day > rules.last_day:
        return DayAvailability(day, "too_far_ahead", [])
    if day < rules.today:
        return DayAvailability(day, "past" if rules.calendar.wall_ranges_on(day) else "closed", [])
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
            if lane_for(span, bookings, rules.service.capacity) is not None:
                free.append(start)
    status = "open" if free else "full" if bookable else "past" if fits else "closed"
    return DayAvailability(day, status, free)


def next_day_with_free_starts(rules: BookingRules, first_day: dt.date) -> DayAvailability | None:
    if first_day > rules.last_day:
        return None
    bookings = bookings_for_days(rules.service, first_day=first_day, last_day=rules.last_day, tz=rules.tz)
    day = first_day
    while day <= rules.last_day:
        if rules.calendar.wall_ranges_on(day):
            candidate = day_availability(rules, day, bookings)
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

    requested_day: DayAvailability
    day: dt.date
    starts: list[dt.datetime]
    moved: bool


def offer_for(rules: BookingRules, *, day: dt.date, requested: dt.datetime | None, limit: int,
           requested_day: DayAvailability | None = None) -> Offer:
    if requested_day is None:
        bookings = bookings_for_days(rules.service, first_day=day, last_day=day, tz=rules.tz)
        requested_day = day_availability(rules, day, bookings)
    if requested_day.free_starts:
        return Offer(requested_day, day, _nearest(requested_day.free_starts, requested, limit), moved=False)
    if requested_day.status == "too_far_ahead":
        return Offer(requested_day, day, [], moved=False)
    next_day = next_day_with_free_starts(rules, max(day + dt.timedelta(days=1), rules.today))
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
    return offer_for(rules, day=day, requested=around, limit=limit)
