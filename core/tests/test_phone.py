import pytest

from core.phone import InvalidPhoneNumber, normalize_phone_number


@pytest.mark.parametrize(
    "raw",
    ["+1 (555) 010-0001", "15550100001", "+15550100001", "1-555-010-0001", "(555) 010-0001", "tel:+15550100001", " +1 555 010 0001 "],
)
def test_it_normalises_every_common_format_to_e164(raw):
    assert normalize_phone_number(raw) == "+15550100001"


def test_it_keeps_international_numbers():
    assert normalize_phone_number("+49 30 1234567") == "+49301234567"


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("07700 900123", "GB", "+447700900123"),     # a UK mobile, said the British way
    ("44 7700 900123", "GB", "+447700900123"),   # with the country code but no +
    ("020 7946 0001", "GB", "+442079460001"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("1 555 010 0001", "GB", "+15550100001"),    # not a UK number: read with its country code
    ("447700900123", "US", "+447700900123"),     # too long for the US: read with its country code
    ("(555) 010-0001", "US", "+15550100001"),
])
def test_numbers_without_a_country_code_are_read_in_the_default_region(raw, region, expected):
    assert normalize_phone_number(raw, default_region=region) == expected


def test_the_same_digits_mean_different_numbers_in_different_countries():
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone_number("07700 900123", default_region="US")


@pytest.mark.parametrize("raw", ["", "abc", "12", "+1 555", "+999 1234", "x" * 100])
def test_it_refuses_what_is_not_a_phone_number(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone_number(raw)
