"""How the agent says things: lists, days, clock times and money, in words every TTS voice reads well,
in the language that is active (`django.utils.translation`: the voice tools activate the business's).

Services write the sentences a caller hears (`DomainError.message`, a tool's `message`) with these, so
"tomorrow at 14:30" is said the same way whichever tool says it. The words ("today", "and") come from
the translation catalogs; the date patterns too (a CLDR pattern per language, formatted by Babel with
its month and day names), so a language is added by completing its catalog.
"""
from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from core.reading import active_locale, clock_words, reading_language, twelve_hour_business


def _date(day: dt.date, pattern: str) -> str:
    return format_date(day, pattern, locale=active_locale())


def spoken_list(items: list[str], *, conjunction: str = "and") -> str:
    """'13:45, 15:00 and 15:15' (`conjunction` "and" or "or", in the active language)."""
    if len(items) <= 1:
        return "".join(items)
    word = pgettext("list", "or") if conjunction == "or" else pgettext("list", "and")
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def spoken_clock(moment: dt.datetime | dt.time) -> str:
    """A time in a sentence the caller hears: in words where digits would be read wrong ("two thirty
    p.m." for a 12-hour business: a TTS voice reads "14:30" as "fourteen thirty"; Spanish always, with
    its article, "las catorce y treinta"), otherwise `14:30`, which every voice reads as a 24-hour
    clock is said."""
    if reading_language() == "es" or (reading_language() == "en" and twelve_hour_business()):
        return clock_words(moment)
    return f"{moment:%H:%M}"


def clock_text(moment: dt.datetime | dt.time, *, twelve_hour: bool = False) -> str:
    """A wall-clock time as people of the business's country write it: `15:30`, or `3:30 PM` where
    the 12-hour clock is the custom (the US: `Tenant.twelve_hour_clock`)."""
    if not twelve_hour:
        return f"{moment:%H:%M}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def calendar_date(day: dt.date) -> str:
    """'Tuesday 10 March 2026' ('martes, 10 de marzo de 2026')."""
    # Translators: a CLDR date pattern (Babel's format_date) for a weekday, day, month and year.
    return _date(day, _("EEEE d MMMM y"))


def _relative_day(day: dt.date, *, today: dt.date) -> str | None:
    return {0: _("today"), 1: _("tomorrow"), -1: _("yesterday")}.get((day - today).days)


def day_name(day: dt.date, *, today: dt.date) -> str:
    """'today', 'tomorrow', 'yesterday' or 'Tuesday 10 March' (the year only when it is not this year's)."""
    relative = _relative_day(day, today=today)
    if relative is not None:
        return relative
    if day.year == today.year:
        # Translators: a CLDR date pattern (Babel's format_date) for a weekday, day and month.
        return _date(day, _("EEEE d MMMM"))
    return calendar_date(day)


def spoken_day(day: dt.date, *, today: dt.date) -> str:
    """'today', 'tomorrow' or 'on Tuesday 10 March': the day as the end of a sentence says it."""
    relative = _relative_day(day, today=today)
    if relative is not None:
        return relative
    return _("on {day}").format(day=day_name(day, today=today))


def capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def spoken_time(moment: dt.datetime, *, now: dt.datetime) -> str:
    """'at 18:40', 'tomorrow at 12:00' or 'on Monday at 11:30' (`moment` and `now` in local time)."""
    days = (moment.date() - now.date()).days
    clock = spoken_clock(moment)
    if days == 0:
        return _("at {time}").format(time=clock)
    if days == 1:
        return _("tomorrow at {time}").format(time=clock)
    if days < 7:
        # Translators: a CLDR date pattern (Babel's format_date) for a weekday alone.
        pattern = _("EEEE")
    else:
        # Translators: a CLDR date pattern (Babel's format_date) for a weekday, month and day.
        pattern = _("EEEE, MMMM d")
    return _("on {day} at {time}").format(day=_date(moment.date(), pattern), time=clock)
