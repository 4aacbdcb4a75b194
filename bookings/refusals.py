"""The sentences a caller hears when a start cannot be booked, and how free times are offered."""
from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bookings.availability import BookingRules, DayAvailability, Offer, OpeningCalendar, booking_policy_get
from bookings.catalog import a_service
from bookings.models import BookingPolicy, Service
from core.phrasing import capitalised, day_name, spoken_clock, spoken_day, spoken_list
from tenants.selectors import tenant_timezone


def spoken_notice(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("{count} hour's", "{count} hours'", hours).format(count=hours)
    return ngettext("{count} minute's", "{count} minutes'", minutes).format(count=minutes)


def too_far_ahead_sentence(*, policy: BookingPolicy, today: dt.date) -> str:
    last_day = today + dt.timedelta(days=policy.horizon_days)
    return _("Sorry, we only take bookings up to {days} days ahead, so the latest day I can book is {day}.").format(
        days=policy.horizon_days, day=day_name(last_day, today=today))


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
        return _("Sorry, {time} {day} is already taken for {service}.").format(time=at, day=on_day,
                                                                              service=a_service(service))
    if code == "in_the_past":
        return _("{day} at {time} has already passed.").format(day=capitalised(day_name(local.date(), today=today)),
                                                               time=at)
    if code == "too_far_ahead":
        return too_far_ahead_sentence(policy=policy, today=today)
    if code == "closed":
        return _("Sorry, we're closed {day}.").format(day=on_day)
    if code == "too_soon":
        return _("Sorry, we need at least {notice} notice, so {time} {day} is too soon.").format(
            notice=spoken_notice(policy.min_notice_minutes), time=at, day=on_day)
    if code == "outside_hours":
        if calendar is None or not calendar.first_day <= local.date() <= calendar.last_day:
            calendar = OpeningCalendar(tz=tz, first_day=local.date(), last_day=local.date())
        hours = spoken_list([_("{opens} to {closes}").format(opens=spoken_clock(opens), closes=spoken_clock(closes))
                             for opens, closes in calendar.wall_ranges_on(local.date())])
        return _("Sorry, a {minutes}-minute {service} at {time} doesn't fit in our opening hours {day}, which are "
                 "{hours}.").format(minutes=service.duration_minutes, service=service.name, time=at, day=on_day,
                                    hours=hours)
    return _("Sorry, {time} {day} can't be booked.").format(time=at, day=on_day)


def offer_sentence(*, offer: Offer, today: dt.date, conjunction: str = "and") -> str:
    """'The nearest free times are 13:45, 15:00 and 15:15.' / 'The next free times are on …'."""
    if not offer.starts:
        return ""
    times = spoken_list([spoken_clock(start) for start in offer.starts], conjunction=conjunction)
    if offer.moved:
        return _("The next day with free times is {day}: {times}.").format(day=day_name(offer.day, today=today),
                                                                           times=times)
    return _("I can offer {times} {day}.").format(times=times, day=spoken_day(offer.day, today=today))


def day_sentence(day: DayAvailability, *, service: Service, today: dt.date) -> str:
    if day.status == "closed" and day.day >= today:
        return _("Sorry, we're closed {day}.").format(day=spoken_day(day.day, today=today))
    if day.status == "past" and day.day == today:
        return _("Sorry, there are no more times for {service} left today.").format(service=a_service(service))
    if day.status in ("closed", "past"):
        return _("{day} has already passed.").format(day=capitalised(day_name(day.day, today=today)))
    if day.status == "full":
        return _("Sorry, {service} is fully booked {day}.").format(service=a_service(service),
                                                                   day=spoken_day(day.day, today=today))
    return ""


def availability_message(*, rules: BookingRules, requested: dt.datetime | None, reason: str | None,
                          requested_day: DayAvailability, offer: Offer) -> str:
    service, today = rules.service, rules.today
    on_day = spoken_day(requested_day.day, today=today)
    if requested is not None and reason is None:
        return _("Yes, {service} {day} at {time} is free.").format(service=a_service(service), day=on_day,
                                                                  time=spoken_clock(requested))
    if requested is None and offer.starts and not offer.moved:
        return capitalised(_("{day} {service} is free at {times}.").format(
            day=on_day, service=a_service(service), times=spoken_list([spoken_clock(s) for s in offer.starts])))
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
    return _("{why} I couldn't find a free time for {service} in the next {days} days.").format(
        why=why, service=a_service(service), days=rules.policy.horizon_days)
