"""How the agent says things: lists, days, clock times and money, in words every TTS voice reads well.

Services write the sentences a caller hears (`DomainError.message`, a tool's `message`) with these, so
"tomorrow at 14:30" is said the same way whichever tool says it.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from core.weekdays import WEEKDAY_NAMES

# How a total is read out: "23.50 euros" is said right by every TTS voice; "EUR" gets spelled out.
CURRENCY_WORDS = {"EUR": "euros", "USD": "dollars", "GBP": "pounds", "CHF": "francs", "CAD": "dollars", "AUD": "dollars"}


def spoken_list(items: list[str], *, conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def spoken_clock(moment: dt.datetime) -> str:
    """`14:30`: the form the agent's instructions use for times, read well by every TTS voice."""
    return f"{moment:%H:%M}"


def clock_text(moment: dt.datetime | dt.time, *, twelve_hour: bool = False) -> str:
    """A wall-clock time as people of the business's country write it: `15:30`, or `3:30 PM` where
    the 12-hour clock is the custom (the US: `Tenant.twelve_hour_clock`)."""
    if not twelve_hour:
        return f"{moment:%H:%M}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


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


def capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def spoken_time(moment: dt.datetime, *, now: dt.datetime) -> str:
    """'at 18:40', 'tomorrow at 12:00' or 'on Monday at 11:30' (`moment` and `now` in local time)."""
    days = (moment.date() - now.date()).days
    clock_text = f"{moment:%H:%M}"
    if days == 0:
        return f"at {clock_text}"
    if days == 1:
        return f"tomorrow at {clock_text}"
    if days < 7:
        return f"on {moment:%A} at {clock_text}"
    return f"on {moment:%A, %B} {moment.day} at {clock_text}"


def spoken_money(amount: Decimal, currency: str) -> str:
    return f"{amount} {CURRENCY_WORDS.get(currency, currency)}"
