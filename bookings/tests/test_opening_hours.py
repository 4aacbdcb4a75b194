"""The salon's opening hours in its own zone (America/New_York): Tue-Fri 09:00-12:30 and 13:30-18:00
(Thursday until 20:00), Saturday 09:00-15:00, closed Sunday, Monday, 25 December and 1 January."""
import datetime as dt

from tenants.hours.models import OpeningHours
from tenants.hours.selectors import (
    business_is_open,
    local_datetime,
    next_opening_after,
    opening_hours_summary,
    opening_ranges_on,
)
from tenants.selectors import tenant_timezone
from testing.demo_tenants import NEW_YORK


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def test_it_uses_the_tenants_time_zone(in_salon):
    assert tenant_timezone() == NEW_YORK


def test_it_gives_every_range_of_a_day(in_salon):
    assert opening_ranges_on(dt.date(2026, 3, 10)) == [(at(2026, 3, 10, 9), at(2026, 3, 10, 12, 30)),
                                                        (at(2026, 3, 10, 13, 30), at(2026, 3, 10, 18))]
    assert opening_ranges_on(dt.date(2026, 3, 12))[1][1] == at(2026, 3, 12, 20)  # Thursday's late evening


def test_it_has_no_ranges_on_a_closed_weekday_or_a_closure(in_salon):
    assert opening_ranges_on(dt.date(2026, 3, 8)) == []  # Sunday
    assert opening_ranges_on(dt.date(2026, 12, 25)) == []  # Christmas Day, a Friday


def test_it_is_open_inside_a_range_and_closed_over_lunch(in_salon):
    assert business_is_open(at=at(2026, 3, 10, 9))
    assert not business_is_open(at=at(2026, 3, 10, 12, 30))
    assert business_is_open(at=at(2026, 3, 10, 13, 30))
    # 17:30 in New York is 22:30 UTC: the question is answered on the tenant's clock.
    assert business_is_open(at=dt.datetime(2026, 3, 10, 21, 30, tzinfo=dt.UTC))
    assert not business_is_open(at=dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC))


def test_it_finds_the_next_opening_over_a_closed_weekend_and_a_holiday(in_salon):
    assert next_opening_after(at=at(2026, 3, 7, 16)) == at(2026, 3, 10, 9)  # Saturday after closing
    assert next_opening_after(at=at(2026, 12, 24, 19)) == at(2026, 12, 26, 9)  # over Christmas Day


def test_it_summarises_the_week_for_the_agent(in_salon):
    assert opening_hours_summary().splitlines() == [
        "Monday: closed",
        "Tuesday: 09:00–12:30, 13:30–18:00",
        "Wednesday: 09:00–12:30, 13:30–18:00",
        "Thursday: 09:00–12:30, 13:30–20:00",
        "Friday: 09:00–12:30, 13:30–18:00",
        "Saturday: 09:00–15:00",
        "Sunday: closed",
    ]


def test_it_opens_at_the_same_wall_time_on_the_days_the_clocks_change(in_salon):
    OpeningHours.objects.create(weekday=6, opens=dt.time(1), closes=dt.time(5))
    spring, autumn = opening_ranges_on(dt.date(2026, 3, 8)), opening_ranges_on(dt.date(2026, 11, 1))
    assert [(opens.isoformat(), closes.isoformat()) for opens, closes in spring] == [
        ("2026-03-08T01:00:00-05:00", "2026-03-08T05:00:00-04:00")]
    assert [(opens.isoformat(), closes.isoformat()) for opens, closes in autumn] == [
        ("2026-11-01T01:00:00-04:00", "2026-11-01T05:00:00-05:00")]


def test_a_wall_time_inside_the_spring_gap_moves_past_it_and_a_repeated_one_means_the_first():
    assert local_datetime(dt.date(2026, 3, 8), dt.time(2, 30), NEW_YORK).isoformat() == "2026-03-08T03:30:00-04:00"
    assert local_datetime(dt.date(2026, 11, 1), dt.time(1, 30), NEW_YORK).isoformat() == "2026-11-01T01:30:00-04:00"
