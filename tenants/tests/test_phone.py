import pytest

from tenants.phone import InvalidPhoneNumber, normalize_phone_number


@pytest.mark.parametrize(
    "raw",
    ["+1 (555) 010-0001", "15550100001", "+15550100001", "1-555-010-0001", "(555) 010-0001", "tel:+15550100001", " +1 555 010 0001 "],
)
def test_it_normalises_every_common_format_to_e164(raw):
    assert normalize_phone_number(raw) == "+15550100001"


def test_it_keeps_international_numbers():
    assert normalize_phone_number("+49 30 1234567") == "+49301234567"


@pytest.mark.parametrize("raw", ["", "abc", "12", "+1 555", "+999 1234", "x" * 100])
def test_it_refuses_what_is_not_a_phone_number(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone_number(raw)
