"""check_availability at the demo salon (America/New_York; Tue-Fri 09:00-12:30 and 13:30-18:00,
Thursday until 20:00, Saturday 09:00-15:00; closed Sun/Mon, 25 Dec, 1 Jan; Haircut 45 min + 15
buffer for 2 at a time, Colour 90 + 15 for 1; 2 hours' notice; 60 days ahead; a 15-minute grid)."""
import datetime as dt

import pytest

from bookings.selectors import availability_check
from bookings.voice import create_booking
from core.errors import DomainError
from tenants.hours.models import OpeningHours
from testing.demo_tenants import NEW_YORK
from voiceapi.errors import http_status

# Monday 9 March 2026, noon in New York (EDT, UTC-4 since the day before): the salon is closed today.
MONDAY_NOON = dt.datetime(2026, 3, 9, 12, 0, tzinfo=NEW_YORK)


def check(service="Haircut", date="2026-03-11", time=None, *, now=MONDAY_NOON):
    return availability_check(service_name=service, date=date, time=time, now=now)


def book(service: str, start: str, *, now=MONDAY_NOON, name="Ann"):
    return create_booking(service_name=service, start=start, customer_name=name, customer_phone="+1 555 010 7777", now=now)


def clocks(outcome) -> list[str]:
    return [start[11:16] for start in outcome.result["available_starts"]]


def test_it_lists_the_earliest_free_starts_of_a_day_with_their_offset(in_salon):
    outcome = check(date="2026-03-11")
    assert outcome.result == {
        "service": "Haircut",
        "duration_minutes": 45,
        "date": "2026-03-11",
        "requested_date": "2026-03-11",
        "timezone": "America/New_York",
        "requested_start": None,
        "requested_available": None,
        "requested_unavailable_reason": None,
        "day_status": "open",
        "moved_to_next_open_day": False,
        "available_starts": ["2026-03-11T09:00:00-04:00", "2026-03-11T09:15:00-04:00", "2026-03-11T09:30:00-04:00",
                             "2026-03-11T09:45:00-04:00", "2026-03-11T10:00:00-04:00"],
        # What to say: a US business's times on the 12-hour clock, in words (core/reading.py).
        "available_starts_spoken": ["Wednesday, March eleventh at nine a.m.", "Wednesday, March eleventh at nine fifteen a.m.",
                                    "Wednesday, March eleventh at nine thirty a.m.",
                                    "Wednesday, March eleventh at nine forty-five a.m.",
                                    "Wednesday, March eleventh at ten a.m."],
    }
    assert outcome.message == ("On Wednesday 11 March a Haircut is free at nine a.m., nine fifteen a.m., nine thirty a.m., "
                               "nine forty-five a.m. and ten a.m.")


def test_it_says_yes_to_a_free_time(in_salon):
    outcome = check(date="2026-03-11", time="14:30")
    assert outcome.result["requested_start"] == "2026-03-11T14:30:00-04:00"
    assert outcome.result["requested_available"] is True
    assert clocks(outcome) == ["14:30", "14:15", "14:45", "14:00", "15:00"]
    assert outcome.message == "Yes, a Haircut on Wednesday 11 March at two thirty p.m. is free."


def test_it_offers_both_ranges_of_a_day_split_by_lunch(in_salon):
    # A haircut at 12:00 would run past 12:30; the nearest starts lie on both sides of the break.
    outcome = check(date="2026-03-11", time="13:00")
    assert outcome.result["requested_available"] is False
    assert outcome.result["requested_unavailable_reason"] == "outside_hours"
    assert clocks(outcome) == ["13:30", "13:45", "14:00", "11:45", "14:15"]
    assert outcome.message == (
        "Sorry, a 45-minute Haircut at one p.m. doesn't fit in our opening hours on Wednesday 11 March, which are "
        "nine a.m. to twelve thirty p.m. and one thirty p.m. to six p.m. I can offer one thirty p.m., one forty-five p.m., "
        "two p.m., eleven forty-five a.m. and two fifteen p.m. on Wednesday 11 March.")


def test_the_service_must_end_by_closing_but_its_buffer_may_run_past(in_salon):
    # Haircut 45 min + 15 min clean-up: 17:15 ends at 18:00 sharp (clean-up until 18:15) and is offered.
    assert check(date="2026-03-11", time="17:15").result["requested_available"] is True
    assert check(date="2026-03-11", time="17:30").result["requested_unavailable_reason"] == "outside_hours"
    assert check(date="2026-03-11", time="11:45").result["requested_available"] is True  # ends 12:30, lunch
    # Thursday is open until 20:00.
    assert check(date="2026-03-12", time="19:15").result["requested_available"] is True


def test_a_closure_moves_the_offer_to_the_next_open_day(in_salon):
    outcome = check(date="2026-12-25", now=dt.datetime(2026, 12, 21, 12, tzinfo=NEW_YORK))
    assert outcome.result["day_status"] == "closed"
    assert outcome.result["moved_to_next_open_day"] is True
    assert outcome.result["requested_date"] == "2026-12-25"
    assert outcome.result["date"] == "2026-12-26"  # Saturday
    assert outcome.result["available_starts"][0] == "2026-12-26T09:00:00-05:00"
    assert outcome.message == ("Sorry, we're closed on Friday 25 December. The next day with free times is Saturday "
                               "26 December: nine a.m., nine fifteen a.m., nine thirty a.m., nine forty-five a.m. and ten "
                               "a.m.")


def test_a_closed_weekday_with_a_time_moves_to_the_same_time_on_the_next_open_day(in_salon):
    outcome = check(date="2026-03-15", time="14:00")  # a Sunday
    assert outcome.result["requested_unavailable_reason"] == "closed"
    assert outcome.result["date"] == "2026-03-17"  # Tuesday; Monday is closed too
    assert clocks(outcome) == ["14:00", "13:45", "14:15", "13:30", "14:30"]
    assert outcome.message.startswith("Sorry, we're closed on Sunday 15 March. The next day with free times is Tuesday 17 March: two p.m.,")


def test_a_haircut_can_be_booked_twice_at_once_but_a_colour_only_once(in_salon):
    book("Haircut", "2026-03-11T10:00")
    assert check(date="2026-03-11", time="10:00").result["requested_available"] is True
    book("Haircut", "2026-03-11T10:00", name="Bea")
    full = check(date="2026-03-11", time="10:00")
    assert full.result["requested_unavailable_reason"] == "slot_taken"
    # Both chairs are busy from 10:00 until 11:00 (45 minutes and 15 of clean-up); 09:00 ends in time.
    assert clocks(full) == ["09:00", "11:00", "11:15", "11:30", "11:45"]
    assert full.message == ("Sorry, ten a.m. on Wednesday 11 March is already taken for a Haircut. I can offer nine a.m., "
                            "eleven a.m., eleven fifteen a.m., eleven thirty a.m. and eleven forty-five a.m. on Wednesday "
                            "11 March.")

    book("Colour", "2026-03-11T13:30")
    assert check("Colour", date="2026-03-11", time="13:30").result["requested_unavailable_reason"] == "slot_taken"


def test_the_buffer_after_a_booking_keeps_the_next_one_waiting(in_salon):
    book("Colour", "2026-03-11T13:30")  # 90 minutes until 15:00, clean-up until 15:15
    assert check("Colour", date="2026-03-11", time="15:00").result["requested_unavailable_reason"] == "slot_taken"
    assert check("Colour", date="2026-03-11", time="15:15").result["requested_available"] is True


def test_a_fully_booked_day_moves_to_the_next_day_with_room(in_salon):
    for start in ("09:00", "10:45", "13:30", "15:15"):
        book("Colour", f"2026-03-11T{start}")  # leaves no 105-minute gap that fits 90 minutes before closing
    outcome = check("Colour", date="2026-03-11")
    assert outcome.result["day_status"] == "full"
    assert outcome.result["date"] == "2026-03-12" and outcome.result["moved_to_next_open_day"] is True
    assert outcome.message.startswith("Sorry, a Colour is fully booked on Wednesday 11 March. "
                                      "The next day with free times is Thursday 12 March: nine a.m.,")


def test_it_keeps_the_minimum_notice(in_salon):
    tuesday_ten = dt.datetime(2026, 3, 10, 10, tzinfo=NEW_YORK)  # 2 hours' notice: nothing before 12:00
    outcome = check(date="2026-03-10", time="11:00", now=tuesday_ten)
    assert outcome.result["requested_unavailable_reason"] == "too_soon"
    assert clocks(outcome) == ["13:30", "13:45", "14:00", "14:15", "14:30"]  # 12:00 would run past 12:30
    assert outcome.message.startswith("Sorry, we need at least 2 hours' notice, so eleven a.m. today is too soon. I can offer "
                                      "one thirty p.m.")
    assert check(date="today", now=tuesday_ten).result["available_starts"][0] == "2026-03-10T13:30:00-04:00"


def test_a_day_that_is_over_moves_to_the_next_day(in_salon):
    tuesday_evening = dt.datetime(2026, 3, 10, 17, tzinfo=NEW_YORK)
    today = check(date="today", now=tuesday_evening)
    assert today.result["day_status"] == "past"
    assert today.result["date"] == "2026-03-11" and today.result["moved_to_next_open_day"] is True
    assert today.message.startswith("Sorry, there are no more times for a Haircut left today. "
                                    "The next day with free times is tomorrow: nine a.m.")

    last_week = check(date="2026-03-03", time="10:00")
    assert last_week.result["requested_unavailable_reason"] == "in_the_past"
    assert last_week.result["day_status"] == "past"
    assert last_week.result["date"] == "2026-03-10"  # today is Monday, closed; Tuesday is the next open day
    assert last_week.message.startswith("Tuesday 3 March has already passed. The next day with free times is tomorrow: "
                                      "ten a.m.")


def test_it_does_not_look_beyond_the_booking_horizon(in_salon):
    # 60 days after Monday 9 March is Friday 8 May, the last bookable day.
    assert check(date="2026-05-08").result["day_status"] == "open"
    outcome = check(date="2026-05-09", time="10:00")
    assert outcome.result["requested_unavailable_reason"] == "too_far_ahead"
    assert outcome.result["day_status"] == "too_far_ahead"
    assert outcome.result["available_starts"] == [] and outcome.result["moved_to_next_open_day"] is False
    assert outcome.message == ("Sorry, we only take bookings up to 60 days ahead, so the latest day I can book is "
                               "Friday 8 May.")


def test_an_offset_is_honoured_and_converted_to_local_time(in_salon):
    assert check(date="2026-03-11", time="14:30Z").result["requested_start"] == "2026-03-11T10:30:00-04:00"
    assert check(date="2026-03-11", time="19:30+00:00").result["requested_start"] == "2026-03-11T15:30:00-04:00"
    # A full datetime: 18:00 in Paris (UTC+1) is 13:00 in New York, lunchtime.
    lunch = check(date="2026-03-11", time="2026-03-11T18:00:00+01:00")
    assert lunch.result["requested_start"] == "2026-03-11T13:00:00-04:00"
    assert lunch.result["requested_unavailable_reason"] == "outside_hours"
    # An offset can land on another local day: 02:00 UTC on the 12th is still the 11th in New York.
    late = check(date="2026-03-12", time="02:00Z")
    assert late.result["requested_date"] == "2026-03-11"


@pytest.mark.parametrize("time, expected", [("2:30pm", "14:30"), ("9:05", "09:05"), ("14:30:45", "14:30"),
                                            ("10 a.m.", "10:00")])
def test_it_reads_the_usual_ways_of_saying_a_time_as_local_time(in_salon, time, expected):
    assert check(date="2026-03-11", time=time).result["requested_start"][11:16] == expected


def test_it_takes_parsed_dates_and_times_as_the_internal_api_passes_them(in_salon):
    outcome = check(date=dt.date(2026, 3, 11), time=dt.time(14, 30, tzinfo=dt.UTC))
    assert outcome.result["requested_start"] == "2026-03-11T10:30:00-04:00"
    assert check(date=dt.date(2026, 3, 11), time=dt.time(10, 30)).result["requested_available"] is True


def test_it_understands_today_and_tomorrow(in_salon):
    assert check(date="tomorrow").result["date"] == "2026-03-10"
    assert check(date=" Today ").result["requested_date"] == "2026-03-09"


@pytest.mark.parametrize("date, time, code", [
    ("2026-02-30", None, "invalid_date"),
    ("2026-13-01", None, "invalid_date"),
    ("next tuesday", None, "invalid_date"),
    ("", None, "invalid_date"),
    ("2026-03-11", "25:00", "invalid_time"),
    ("2026-03-11", "24:00", "invalid_time"),
    ("2026-03-11", "12:60", "invalid_time"),
    ("2026-03-11", "noonish", "invalid_time"),
    ("2026-03-11", "13pm", "invalid_time"),
    ("2026-03-11", "2026-02-30T10:00", "invalid_date"),
])
def test_it_refuses_impossible_dates_and_times_with_a_sentence(in_salon, date, time, code):
    with pytest.raises(DomainError) as caught:
        check(date=date, time=time)
    assert caught.value.code == code and http_status(caught.value) == 422
    assert caught.value.message.endswith(("?", "."))


def test_it_names_the_services_offered_for_an_unknown_one(in_salon):
    with pytest.raises(DomainError) as caught:
        check("nails", date="2026-03-11")
    assert caught.value.code == "unknown_service"
    assert caught.value.message == "Sorry, we don't offer nails. We offer Blow Dry, Colour and Haircut."


# --- the days the clocks change -----------------------------------------------------------------

@pytest.fixture
def open_on_sundays(in_salon):
    """Night openings on Sundays, so the clock changes (Sunday 8 March and 1 November 2026, at 02:00)
    fall inside opening hours. Rolled back with the test."""
    OpeningHours.objects.create(weekday=6, opens=dt.time(0), closes=dt.time(5))


def test_spring_forward_slots_keep_wall_times_and_skip_the_missing_hour(open_on_sundays):
    friday = dt.datetime(2026, 3, 6, 12, tzinfo=NEW_YORK)
    outcome = availability_check(service_name="Haircut", date="2026-03-08", time="01:30", now=friday)
    assert outcome.result["available_starts"] == [
        "2026-03-08T01:30:00-05:00", "2026-03-08T01:15:00-05:00", "2026-03-08T01:45:00-05:00",
        "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00",  # 03:00 EDT is 15 minutes after 01:45 EST
    ]
    starts = [s[11:16] for s in availability_check(service_name="Blow Dry", date="2026-03-08", now=friday).result[
        "available_starts"]]
    assert starts == ["00:00", "00:15", "00:30", "00:45", "01:00"]

    # A colour at 00:15 EST lasts 90 real minutes, to 01:45 EST, and its 15 minutes of clean-up end
    # at 02:00 EST, which the clock shows as 03:00 EDT.
    create_booking(service_name="Colour", start="2026-03-08T00:15", customer_name="Ann",
                   customer_phone="+15550107777", now=friday)
    taken = availability_check(service_name="Colour", date="2026-03-08", time="01:45", now=friday)
    assert taken.result["requested_unavailable_reason"] == "slot_taken"
    assert taken.result["available_starts"][:2] == ["2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]


def test_a_time_inside_the_spring_gap_is_refused_with_the_nearest_real_one(open_on_sundays):
    with pytest.raises(DomainError) as caught:
        availability_check(service_name="Haircut", date="2026-03-08", time="02:30",
                           now=dt.datetime(2026, 3, 6, 12, tzinfo=NEW_YORK))
    assert caught.value.code == "invalid_time"
    assert caught.value.message == ("The clocks go forward on Sunday 8 March 2026, so two thirty a.m. doesn't exist that "
                                    "day; did you mean three thirty a.m.?")


def test_fall_back_slots_keep_wall_times_and_durations_are_real_time(open_on_sundays):
    friday = dt.datetime(2026, 10, 30, 12, tzinfo=NEW_YORK)
    # Colour at 00:00 EDT: 90 minutes to 01:30 EDT, clean-up to 01:45 EDT.
    create_booking(service_name="Colour", start="2026-11-01T00:00", customer_name="Ann",
                   customer_phone="+15550107777", now=friday)
    outcome = availability_check(service_name="Colour", date="2026-11-01", now=friday)
    # The repeated hour (01:00-01:59 EST) is not offered a second time, so 02:00 EST follows 01:45 EDT.
    assert outcome.result["available_starts"] == [
        "2026-11-01T01:45:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T02:15:00-05:00",
        "2026-11-01T02:30:00-05:00", "2026-11-01T02:45:00-05:00",
    ]
    # The day is six real hours long (00:00 EDT to 05:00 EST): the last colour starts at 03:30 EST.
    last = availability_check(service_name="Colour", date="2026-11-01", time="04:00", now=friday)
    assert last.result["available_starts"][0] == "2026-11-01T03:30:00-05:00"
    assert last.result["requested_unavailable_reason"] == "outside_hours"
    # The second 01:30 (EST), asked for with its offset, is a real and free moment.
    second = availability_check(service_name="Haircut", date="2026-11-01", time="01:30-05:00", now=friday)
    assert second.result["requested_start"] == "2026-11-01T01:30:00-05:00"
    assert second.result["requested_available"] is True
