"""The sentences a caller hears when a start cannot be booked, and how free times are offered."""
from __future__ import annotations

import datetime as dt

from bookings.availability import BookingRules, DayAvailability, Offer, OpeningCalendar, booking_policy_get
from bookings.catalog import a_service
from bookings.models import BookingPolicy, Service
from core.phrasing import capitalised, day_name, spoken_clock, spoken_day, spoken_list
from tenants.selectors import tenant_timezone


def spoken_notice(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour's" if hours == 1 else f"{hours} hours'"
    return f"{minutes} minutes'"


def too_far_ahead_sentence(*, policy: BookingPolicy, today: dt.date) -> str:
    last_day = today + dt.timedelta(days=policy.horizon_days)
    return (f"Sorry, we only take bookings up to {policy.horizon_days} days ahead, so the latest day I can book is "
            f"{day_name(last_day, today=today)}.")


def start_refusal_sentence(*, code: str, service: Service, start: dt.datetime, now: dt.datetime,
                           policy: BookingPolicy | None = None, calendar: OpeningCalendar | None = None) -> str:
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
        return f"{capitalised(day_name(local.date(), today=today))} at {at} has already passed."
    if code == "too_far_ahead":
        return too_far_ahead_sentence(policy=policy, today=today)
    if code == "closed":
        return f"Sorry, we're closed {on_day}."
    if code == "too_soon":
        return f"Sorry, we need at least {spoken_notice(policy.min_notice_minutes)} notice, so {at} {on_day} is too soon."
    if code == "outside_hours":
        if calendar is None or not calendar.first_day <= local.date() <= calendar.last_day:
            calendar = OpeningCalendar(tz=tz, first_day=local.date(), last_day=local.date())
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


def day_sentence(day: DayAvailability, *, service: Service, today: dt.date) -> str:
    if day.status == "closed" and day.day >= today:
        return f"Sorry, we're closed {spoken_day(day.day, today=today)}."
    if day.status == "past" and day.day == today:
        return f"Sorry, there are no more times for {a_service(service)} left today."
    if day.status in ("closed", "past"):
        return f"{capitalised(day_name(day.day, today=today))} has already passed."
    if day.status == "full":
        return f"Sorry, {a_service(service)} is fully booked {spoken_day(day.day, today=today)}."
    return ""


def availability_message(*, rules: BookingRules, requested: dt.datetime | None, reason: str | None,
                          requested_day: DayAvailability, offer: Offer) -> str:
    service, today = rules.service, rules.today
    on_day = spoken_day(requested_day.day, today=today)
    if requested is not None and reason is None:
        return f"Yes, {a_service(service)} {on_day} at {spoken_clock(requested)} is free."
    if requested is None and offer.starts and not offer.moved:
        return f"{capitalised(on_day)} {a_service(service)} is free at {spoken_list([spoken_clock(s) for s in offer.starts])}."
    # Why not: the requested time's own reason when its day has other times (or is out of reach),
    # otherwise what is wrong with the whole day.
    if requested is not None and (requested_day.free_starts or reason == "too_far_ahead"):
        why = start_refusal_sentence(code=reason, service=service, start=requested, now=rules.now, policy=rules.policy)
    elif requested_day.status == "too_far_ahead":
        why = too_far_ahead_sentence(policy=rules.policy, today=today)
    else:
        why = day_sentence(requested_day, service=service, today=today)
    if offer.starts:
        return f"{why} {offer_sentence(offer=offer, today=today)}"
    if requested_day.status == "too_far_ahead":
        return why
    return f"{why} I couldn't find a free time for {a_service(service)} in the next {rules.policy.horizon_days} days."
