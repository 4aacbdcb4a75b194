"""Times, dates, money and phone numbers in words, the way a person of the business's country and
language reads them out: "two thirty p.m." and "noon" for a US business, "fourteen thirty" on a 24-hour
clock, "las catorce y treinta" in Spanish; "Thursday, March fifth"; "twelve dollars and fifty cents";
"five five five, zero one zero, zero one zero zero".

The voice tools give these beside the machine forms (`start` and `start_spoken`), and the sentences a
caller hears use them where a TTS voice would read the digits wrong ("14:30" for a US caller is
"fourteen thirty"). Numbers in words are num2words' (many languages, cardinals, ordinals and currency
names, no network); month and weekday names are CLDR's through Babel. Words are in the active
language (`django.utils.translation`: the voice tools activate the business's); a language num2words
does not know gets digits, which every TTS voice reads.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import get_currency_name
from django.db import connection
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from num2words import CONVERTER_CLASSES, num2words

from core.languages import primary_subtag


def active_locale() -> Locale:
    """Babel's locale of the active language ("es", "en-us" → es, en_US); English when unknown."""
    try:
        return Locale.parse(translation.to_locale(translation.get_language() or "en"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def reading_language() -> str:
    """The active language's primary subtag if num2words reads it, else "" (digits)."""
    language = primary_subtag(translation.get_language() or "en")
    return language if language in CONVERTER_CLASSES else ""


def twelve_hour_business() -> bool:
    """Whether the current business's country reads the clock in 12 hours (the US: Tenant.twelve_hour_clock)."""
    return bool(getattr(connection.tenant, "twelve_hour_clock", False))


def number_words(number: int) -> str:
    language = reading_language()
    return num2words(number, lang=language) if language else str(number)


def clock_words(moment: dt.datetime | dt.time, *, twelve_hour: bool | None = None) -> str:
    """A wall-clock time as said aloud: "two thirty p.m.", "noon", "fourteen thirty", "nine oh five",
    "las catorce y treinta", "las dos y media de la tarde" (12-hour Spanish)."""
    twelve_hour = twelve_hour_business() if twelve_hour is None else twelve_hour
    hour, minute = moment.hour, moment.minute
    language = reading_language()
    if language == "es":
        return _clock_words_es(hour, minute, twelve_hour=twelve_hour)
    if language != "en":
        return f"{hour:02d}:{minute:02d}" if not twelve_hour else f"{hour % 12 or 12}:{minute:02d}"
    if twelve_hour:
        if minute == 0 and hour in (0, 12):
            return "noon" if hour == 12 else "midnight"
        words = f"{_en_hour(hour % 12 or 12)} {_en_minutes(minute)}".strip()
        return f"{words} {'a.m.' if hour < 12 else 'p.m.'}"
    if minute == 0:
        return f"{_en_hour(hour)} hundred" if hour else "midnight"
    return f"{_en_hour(hour)} {_en_minutes(minute)}" if hour else f"zero {_en_minutes(minute)}"


def _en_hour(hour: int) -> str:
    return num2words(hour, lang="en")


def _en_minutes(minute: int) -> str:
    if minute == 0:
        return ""
    return f"oh {num2words(minute, lang='en')}" if minute < 10 else num2words(minute, lang="en")


def _clock_words_es(hour: int, minute: int, *, twelve_hour: bool) -> str:
    if hour == 0 and minute == 0:
        return "medianoche"
    shown = hour % 12 or 12 if twelve_hour else hour
    article = "la" if shown == 1 else "las"
    # "hora" is feminine: la una, las veintiuna.
    number = num2words(shown, lang="es")
    words = f"{article} {number[:-1] + 'a' if number.endswith('uno') else number}"
    if minute:
        words += f" y {'media' if minute == 30 and twelve_hour else num2words(minute, lang='es')}"
    if not twelve_hour:
        return words
    if hour == 12 and minute == 0:
        return "las doce del mediodía"
    period = "de la madrugada" if hour < 6 else "de la mañana" if hour < 12 else ("de la tarde" if hour < 20 else "de la noche")
    return f"{words} {period}"


def date_words(day: dt.date) -> str:
    """A date as said aloud: "Thursday, March fifth" (English reads the day as an ordinal),
    "jueves cinco de marzo"."""
    locale = active_locale()
    language = reading_language()
    weekday, month = format_date(day, "EEEE", locale=locale), format_date(day, "MMMM", locale=locale)
    if language == "en":
        number = num2words(day.day, lang="en", to="ordinal")
    else:
        number = num2words(day.day, lang=language) if language else str(day.day)
    # Translators: a date said aloud; {day} is the day of the month in words ("fifth" in English).
    return _("{weekday}, {month} {day}").format(weekday=weekday, month=month, day=number)


def moment_words(moment: dt.datetime, *, today: dt.date) -> str:
    """"today at two thirty p.m.", "tomorrow at noon", "Thursday, March fifth at nine a.m."."""
    relative = {0: _("today"), 1: _("tomorrow")}.get((moment.date() - today).days)
    return _("{day} at {time}").format(day=relative or date_words(moment.date()), time=clock_words(moment))


def money_words(amount: Decimal, currency: str) -> str:
    """"twelve dollars and fifty cents", "doce euros con cincuenta céntimos"; for a currency num2words
    does not name in the language (the Swiss franc, the yen in English), the amount in words and the
    currency's name from CLDR: "twelve Swiss francs and fifty"."""
    language = reading_language()
    amount = Decimal(amount).quantize(Decimal("0.01"))
    whole = amount == amount.to_integral_value()
    try:
        # The marker splits the units from the cents: a whole amount says no "zero cents".
        units, cents = num2words(amount, lang=language, to="currency", currency=currency, separator="|").split("|")
    except (NotImplementedError, ValueError, KeyError, TypeError):
        # num2words raises NotImplementedError for a currency it has no names for in the language.
        units = f"{number_words(int(amount))} {get_currency_name(currency, count=int(amount), locale=active_locale())}"
        cents = "" if whole else number_words(int(amount % 1 * 100))
    if whole:
        return units.strip()
    # Translators: joins the units and the cents of a price said aloud ("twelve dollars and fifty cents").
    joined = pgettext("money", "and")
    return f"{units.strip()} {joined} {cents.strip()}"


def phone_words(number: str) -> str:
    """A phone number digit by digit in the groups its country writes it in: "five five five, zero one
    zero, zero one zero zero" (+1 555 010 0100, read as a national number); the country code is said
    only for a number of another country."""
    try:
        parsed = phonenumbers.parse(number, None)
        business_region = getattr(connection.tenant, "country", "") or ""
        # By calling code, not region: a number need not be a valid one of its region to be read out.
        domestic = parsed.country_code == phonenumbers.country_code_for_region(business_region)
        form = phonenumbers.PhoneNumberFormat.NATIONAL if domestic else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        written = phonenumbers.format_number(parsed, form)
    except phonenumbers.NumberParseException:
        written = number
    groups = ["".join(char for char in part if char.isdigit()) for part in
              written.replace("(", " ").replace(")", " ").replace("-", " ").split()]
    return ", ".join(" ".join(number_words(int(digit)) for digit in group) for group in groups if group)
