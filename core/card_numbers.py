"""Payment card numbers said aloud or typed, found and masked before anything is stored.

A card number is a Luhn-valid run of 13-19 digits. Callers read them out in groups ("4111 1111 …"),
one digit at a time ("4 1 1 1 …"), or in words as speech-to-text writes them ("four one one one …",
"cuatro uno uno uno …"); the run may be broken by spaces, commas, dots, dashes or slashes. Anything
else (a letter, a colon) ends the run, which keeps times, dates, UUIDs and phone numbers (at most
15 digits, never Luhn-checked by their owners, but rarely a run of 13+) mostly out of it; a Luhn
check on top leaves one false match in ten among 13-19 digit runs, and a masked order number is a
far smaller harm than a stored card number.

Plain functions over text and JSON values: the worker masks before it logs and mutes the audio of
the turns it finds (voiceworker/recordings.py); the API masks again when it stores (calls/ingestion.py)
and when it writes a summary.
"""
from __future__ import annotations

import re
from typing import Any

MIN_DIGITS, MAX_DIGITS = 13, 19

# The words speech-to-text writes for single digits, in the languages the agent most often takes
# calls in. "oh"/"o" are how English speakers say zero in numbers.
DIGIT_WORDS = {
    # en
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    # es
    "cero": "0", "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6",
    "siete": "7", "ocho": "8", "nueve": "9",
    # fr, de, it, pt, nl (the rest of the multilingual recogniser's European languages)
    "zéro": "0", "un": "1", "une": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "sept": "7",
    "huit": "8", "neuf": "9", "null": "0", "eins": "1", "zwei": "2", "drei": "3", "vier": "4", "fünf": "5",
    "sechs": "6", "sieben": "7", "acht": "8", "neun": "9", "due": "2", "tre": "3",
    "quattro": "4", "cinque": "5", "sei": "6", "sette": "7", "otto": "8", "nove": "9", "um": "1", "três": "3",
    "quatro": "4", "oito": "8", "nul": "0", "een": "1", "twee": "2", "drie": "3", "zes": "6", "zeven": "7",
    "negen": "9",
}
MASK = "[card number ending {last4}]"

_TOKEN = re.compile(r"\d+|[^\W\d_]+", re.UNICODE)
_SEPARATOR = re.compile(r"[\s,.\-/]*")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits_of(token: str) -> str | None:
    if token.isdigit():
        return token
    return DIGIT_WORDS.get(token.lower())


def card_number_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of each card number in `text`."""
    runs: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    for match in _TOKEN.finditer(text):
        digits = _digits_of(match.group())
        joined = bool(current) and _SEPARATOR.fullmatch(text, current[-1][1], match.start()) is not None
        if digits is None or (current and not joined):
            if len(current) > 0:
                runs.append(current)
            current = []
        if digits is not None:
            current.append((match.start(), match.end(), digits))
    if current:
        runs.append(current)
    spans: list[tuple[int, int, str]] = []
    for run in runs:
        start = 0
        while start < len(run):
            found = None
            # The longest Luhn-valid window of whole tokens starting here: a group read out as
            # "4111 1111 1111 1111" is never cut inside a group.
            for end in range(len(run), start, -1):
                digits = "".join(token[2] for token in run[start:end])
                if MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_valid(digits):
                    found = (run[start][0], run[end - 1][1], digits)
                    start = end
                    break
            if found:
                spans.append(found)
            else:
                start += 1
    return spans


def contains_card_number(text: str) -> bool:
    return bool(card_number_spans(text))


def mask_card_numbers(text: str) -> str:
    """`text` with each card number replaced by "[card number ending 1111]"."""
    if not isinstance(text, str) or not text:
        return text
    spans = card_number_spans(text)
    for start, end, digits in reversed(spans):
        text = text[:start] + MASK.format(last4=digits[-4:]) + text[end:]
    return text


def mask_card_numbers_in(value: Any) -> Any:
    """The same for every string (and every key) in a JSON value: tool arguments and results."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, list):
        return [mask_card_numbers_in(item) for item in value]
    if isinstance(value, dict):
        return {mask_card_numbers(key) if isinstance(key, str) else key: mask_card_numbers_in(item)
                for key, item in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= MIN_DIGITS:
        masked = mask_card_numbers(str(value))
        return masked if masked != str(value) else value
    return value
