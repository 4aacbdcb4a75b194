"""The one phone-number normaliser. Every number Soniq stores or looks up goes through here."""
import re

import phonenumbers

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone_number(raw: str, *, default_region: str = DEFAULT_REGION) -> str:
    """Return `raw` as E.164 (`+15550100001`).

    Accepts the formats people and SIP trunks use: `+1 (555) 010-0001`, `15550100001`, `5550100001`,
    `tel:+15550100001`. A number without a `+` is read as a number of `default_region` (the
    tenant's country, `Tenant.country`: `07700 900123` is `+447700900123` for a GB business) and,
    when that is not a possible number there, as one that starts with its country code
    (`15550100001` said to a GB business is `+15550100001`). Numbers only need to be *possible*
    (right length for the country): the 555 test range that demo tenants use is not assigned to a
    real area code.
    """
    text = (raw or "").strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not text or len(text) > 40:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.")
    digits = "".join(ch for ch in text if ch.isdigit())
    readings = [text]
    if not text.startswith("+") and len(digits) > 7:
        readings.append("+" + digits)
    for reading in readings:
        try:
            parsed = phonenumbers.parse(reading, default_region)
        except phonenumbers.NumberParseException:
            continue
        # A possible number of some plan can still be too short to store or dial ("12" for a German
        # business): only what `is_e164` accepts leaves here.
        if phonenumbers.is_possible_number(parsed) and is_e164(_e164(parsed)):
            return _e164(parsed)
    raise InvalidPhoneNumber(f"{raw!r} is not a possible phone number.")


def valid_phone_number(raw: str, *, default_region: str = DEFAULT_REGION) -> str:
    """`raw` as E.164, only if it is a number that exists in its country's numbering plan
    (`phonenumbers.is_valid_number`), not merely one of the right length: for what an owner types
    (a customer's number, a staff mobile, the transfer number), where "555 0123" must be refused,
    not stored as `+15550123` and texted. Raises `InvalidPhoneNumber` with a sentence for the owner
    that gives an example of a number of `default_region`."""
    number = None
    try:
        number = normalize_phone_number(raw, default_region=default_region)
    except InvalidPhoneNumber:
        pass
    if number is not None and phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
        return number
    example = phonenumbers.example_number_for_type(default_region, phonenumbers.PhoneNumberType.MOBILE)
    hint = (f", e.g. {phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)}"
            if example is not None else "")
    raise InvalidPhoneNumber(f"{(raw or '').strip()!r} is not a valid phone number. Enter the whole number with its "
                             f"area code{hint}, or with its country code (+…).")


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_region(number: str) -> str:
    """The country (ISO 3166 code) a number's country code belongs to: `+44…` is GB, `+1…` US."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return DEFAULT_REGION
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if is_phone_region(region) else DEFAULT_REGION


def is_phone_region(code: str) -> bool:
    return code in phonenumbers.SUPPORTED_REGIONS


_E164_RE = re.compile(r"\+[1-9]\d{6,14}")


def is_e164(value: str | None) -> bool:
    """Whether `value` is a number as `normalize_phone_number` stores it: only then may it be read
    to the model or called back (a caller id is whatever the far end put in the SIP From header)."""
    return bool(value) and _E164_RE.fullmatch(value) is not None


def is_sip_uri(value: str) -> bool:
    return value.startswith(("sip:", "sips:")) and "@" in value and " " not in value
