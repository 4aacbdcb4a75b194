"""Finding the service a caller means at the demo salon: Haircut (aliases cut, trim, men's cut,
women's cut), Colour (color, dye, highlights), Blow Dry (blowout, blow-dry, styling)."""
import pytest

from bookings.catalog import service_match
from bookings.models import Service
from core.errors import DomainError
from voiceapi.errors import http_status


def matched(spoken: str) -> str:
    return service_match(spoken_name=spoken).name


@pytest.mark.parametrize("spoken", ["Haircut", "haircut", "  HAIRCUT!! ", "hair cut", "hair-cut"])
def test_it_ignores_case_spaces_and_punctuation(in_salon, spoken):
    assert matched(spoken) == "Haircut"


@pytest.mark.parametrize("spoken, name", [
    ("haircuts", "Haircut"), ("two haircuts", "Haircut"), ("colours", "Colour"), ("blow dries", "Blow Dry"),
])
def test_it_understands_plurals(in_salon, spoken, name):
    assert matched(spoken) == name


@pytest.mark.parametrize("spoken, name", [
    ("trim", "Haircut"), ("a trim please", "Haircut"), ("Men's cut", "Haircut"), ("mens cut", "Haircut"),
    ("color", "Colour"), ("highlights", "Colour"), ("blowout", "Blow Dry"), ("blow-dry", "Blow Dry"),
    ("blowdry", "Blow Dry"), ("styling appointment", "Blow Dry"),
])
def test_it_knows_the_aliases(in_salon, spoken, name):
    assert matched(spoken) == name


@pytest.mark.parametrize("spoken, name", [
    ("hiarcut", "Haircut"), ("haircutt", "Haircut"), ("colur", "Colour"), ("blow dri", "Blow Dry"),
    ("higlights", "Colour"),
])
def test_it_forgives_a_small_misspelling(in_salon, spoken, name):
    assert matched(spoken) == name


def test_it_finds_a_service_named_among_other_words(in_salon):
    assert matched("a ladies haircut") == "Haircut"
    assert matched("full head colour") == "Colour"


def test_it_does_not_guess_between_two_services_said_together(in_salon):
    with pytest.raises(DomainError) as caught:
        service_match(spoken_name="cut and colour")
    assert caught.value.code == "unknown_service"


def test_it_does_not_stretch_short_words_into_a_service(in_salon):
    with pytest.raises(DomainError):
        service_match(spoken_name="cot")


def test_it_lists_the_services_offered_when_it_does_not_know_one(in_salon):
    with pytest.raises(DomainError) as caught:
        service_match(spoken_name="manicure")
    error = caught.value
    assert error.code == "unknown_service" and http_status(error) == 422
    assert error.details == {"services": ["Blow Dry", "Colour", "Haircut"]}
    assert error.message == "Sorry, we don't offer manicure. We offer Blow Dry, Colour and Haircut."


def test_it_asks_which_service_when_none_was_named(in_salon):
    with pytest.raises(DomainError) as caught:
        service_match(spoken_name="  ")
    assert caught.value.message == "Which service would you like? We offer Blow Dry, Colour and Haircut."


def test_it_does_not_offer_a_retired_service(in_salon):
    Service.objects.filter(name="Colour").update(active=False)
    with pytest.raises(DomainError) as caught:
        service_match(spoken_name="colour")
    assert caught.value.details == {"services": ["Blow Dry", "Haircut"]}
