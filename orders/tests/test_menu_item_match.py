"""Finding the menu item a caller means (demo pizzeria: Margherita, Pepperoni, Quattro Formaggi,
Diavola, Tiramisu, Garlic Bread, Coca-Cola; Truffle Pizza is off the menu today)."""
import unicodedata
from decimal import Decimal

import pytest
from django_tenants.utils import tenant_context

from core.errors import DomainError
from orders.models import MenuItem
from orders.selectors import menu_item_match, menu_summary
from voiceapi.errors import http_status


@pytest.fixture
def in_pizzeria(pizzeria):
    with tenant_context(pizzeria):
        yield pizzeria


@pytest.mark.parametrize(("spoken", "expected"), [
    ("Margherita", "Margherita"),
    ("margherita", "Margherita"),
    ("  MARGHERITA!  ", "Margherita"),
    ("two margheritas", "Margherita"),
    ("2 Margheritas", "Margherita"),
    ("a margherita please", "Margherita"),
    ("margarita", "Margherita"),            # alias
    ("margerita", "Margherita"),            # one letter missing
    ("Margherita pizza", "Margherita"),     # name + category
    ("ｍａｒｇｈｅｒｉｔａ", "Margherita"),    # full-width letters
    ("pepperonis", "Pepperoni"),
    ("peperoni", "Pepperoni"),
    ("Pepperoni Pizzas", "Pepperoni"),
    ("salami pizza", "Pepperoni"),
    ("tiramisù", "Tiramisu"),
    (unicodedata.normalize("NFD", "Tiramisù"), "Tiramisu"),
    ("two tiramisus", "Tiramisu"),
    ("tiramissu", "Tiramisu"),
    ("four cheese", "Quattro Formaggi"),
    ("two four cheese pizzas", "Quattro Formaggi"),
    ("4 cheese", "Quattro Formaggi"),
    ("quatro formagi", "Quattro Formaggi"),
    ("Coca Cola", "Coca-Cola"),
    ("cocacola", "Coca-Cola"),
    ("three cokes", "Coca-Cola"),
    ("garlic breads", "Garlic Bread"),
    ("diavolla", "Diavola"),
])
def test_it_matches_the_way_callers_say_it(in_pizzeria, spoken, expected):
    assert menu_item_match(spoken_name=spoken).name == expected


def test_it_names_the_closest_items_for_something_not_on_the_menu(in_pizzeria):
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name="hawaiian pizza")
    error = caught.value
    assert (error.code, http_status(error)) == ("unknown_item", 422)
    assert error.details["item"] == "hawaiian pizza"
    assert len(error.details["closest"]) == 3
    assert "Truffle Pizza" not in error.details["closest"]
    assert "“hawaiian pizza”" in error.message
    for name in error.details["closest"]:
        assert name in error.message


def test_it_does_not_guess_short_words(in_pizzeria):
    # "cake" is one letter from "coke"; a caller asking for cake must not be sold a Coca-Cola.
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name="cake")
    assert caught.value.code == "unknown_item"


@pytest.mark.parametrize("spoken", ["Truffle Pizza", "truffle", "two truffle pizzas", "trufle pizza"])
def test_it_says_an_unavailable_item_is_not_available_today(in_pizzeria, spoken):
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name=spoken)
    error = caught.value
    assert error.code == "unknown_item"
    assert error.message.startswith("Sorry, the Truffle Pizza is not available today.")
    # Another pizza is the closest thing to offer instead.
    pizzas = {"Margherita", "Pepperoni", "Quattro Formaggi", "Diavola"}
    assert set(error.details["closest"]) <= pizzas and len(error.details["closest"]) == 3
    assert error.details["unavailable"] == "Truffle Pizza"


def test_it_asks_rather_than_guesses_between_two_equally_near_items(in_pizzeria):
    MenuItem.objects.create(name="Pesto", category="Pasta", price=Decimal("8.00"), currency="EUR")
    MenuItem.objects.create(name="Pasta", category="Pasta", price=Decimal("7.00"), currency="EUR")
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name="pasto")
    assert caught.value.code == "unknown_item"
    assert {"Pesto", "Pasta"} <= set(caught.value.details["closest"])


@pytest.mark.parametrize("spoken", ["", "   ", "!!"])
def test_it_asks_which_item_when_nothing_was_said(in_pizzeria, spoken):
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name=spoken)
    assert caught.value.code == "unknown_item"
    assert caught.value.message.startswith("Which item from the menu would you like?")


def test_it_summarises_the_available_menu_by_category_with_prices(in_pizzeria):
    summary = menu_summary()
    assert summary.splitlines() == [
        "Pizza: Margherita 9.50 EUR, Pepperoni 11.00 EUR, Quattro Formaggi 12.50 EUR, Diavola 12.00 EUR",
        "Dessert: Tiramisu 5.50 EUR",
        "Sides: Garlic Bread 4.00 EUR",
        "Drinks: Coca-Cola 2.80 EUR",
    ]
    assert "Truffle" not in summary


def test_it_answers_a_huge_item_name_as_unknown(in_pizzeria):
    with pytest.raises(DomainError) as caught:
        menu_item_match(spoken_name="pizza " * 20_000)
    assert caught.value.code == "unknown_item"
    assert len(caught.value.details["item"]) == 200
    assert len(caught.value.message) < 300


def test_it_matches_against_a_menu_loaded_once(in_pizzeria, django_assert_num_queries):
    from orders.selectors import menu_load

    menu = menu_load()
    with django_assert_num_queries(0):
        assert [menu_item_match(spoken_name=name, menu=menu).name for name in ("coke", "four cheese")] == [
            "Coca-Cola", "Quattro Formaggi"]
