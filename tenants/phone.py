"""The one phone-number normaliser. Every number Soniq stores or looks up goes through here."""
import phonenumbers

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone_number(raw: str, *, default_region: str = DEFAULT_REGION) -> str:
    """Return `raw` as E.164 (`+15550100001`).

    Accepts the formats people and SIP trunks use: `+1 (555) 010-0001`, `15550100001`, `5550100001`,
    `tel:+15550100001`. Numbers only need to be *possible* (right length for the country): the 555
    test range that demo tenants use is not assigned to a real area code.
    """
    text = (raw or "").strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not text or len(text) > 40:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.")
    digits = "".join(ch for ch in text if ch.isdigit())
    # `15550100001` is how many trunks send North American numbers: a country code without the +.
    if not text.startswith("+") and len(digits) > 10:
        text = "+" + digits
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a possible phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_sip_uri(value: str) -> bool:
    return value.startswith(("sip:", "sips:")) and "@" in value and " " not in value
