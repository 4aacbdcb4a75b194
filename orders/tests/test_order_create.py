"""Placing an order by phone at the demo pizzeria (Europe/Berlin). Hours: Mon-Thu 11:30-14:30 and
17:00-22:30, Fri 11:30-23:30, Sat 12:00-23:30, Sun 12:00-22:00; prep 20 min, delivery +30 min."""
import datetime as dt
from decimal import Decimal

import pytest
from django_tenants.utils import tenant_context

from core.errors import DomainError
from messaging.models import SmsMessage
from orders.models import Order, OrderingPolicy, OrderLine
from orders.voice import create_order
from tenants.agent.models import AgentSettings
from tenants.hours.models import Closure
from testing.demo_tenants import BERLIN
from voiceapi.errors import http_status

# Tuesday 10 March 2026, 18:00 in Berlin (UTC+1): the evening service is on.
TUESDAY_EVENING = dt.datetime(2026, 3, 10, 18, 0, tzinfo=BERLIN)


@pytest.fixture
def in_pizzeria(pizzeria):
    with tenant_context(pizzeria):
        yield pizzeria


def place(items, *, now=TUESDAY_EVENING, **kwargs):
    kwargs.setdefault("customer_name", "Anna")
    kwargs.setdefault("customer_phone", "+1 (555) 010-7777")
    return create_order(items=items, now=now, **kwargs)


def refused(items, *, code, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        place(items, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert http_status(caught.value) == 422
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    return caught.value


def test_it_prices_the_order_in_decimal_and_says_the_total_and_ready_time(in_pizzeria):
    outcome = place([
        {"name": "two margheritas", "quantity": 2},
        {"name": "Pepperoni", "quantity": 1, "notes": "well done"},
        {"name": "coke", "quantity": 3},
    ])
    # 2 × 9.50 + 11.00 + 3 × 2.80 = 38.40; 3 × 2.80 in binary floats would be 8.399999…
    assert outcome.result["total"] == "38.40"
    assert outcome.result["currency"] == "EUR"
    assert outcome.result["fulfillment"] == "pickup"
    assert outcome.result["lines"] == [
        {"name": "Margherita", "quantity": 2, "unit_price": "9.50", "line_total": "19.00", "notes": ""},
        {"name": "Pepperoni", "quantity": 1, "unit_price": "11.00", "line_total": "11.00", "notes": "well done"},
        {"name": "Coca-Cola", "quantity": 3, "unit_price": "2.80", "line_total": "8.40", "notes": ""},
    ]
    assert outcome.result["estimated_ready_at"] == "2026-03-10T18:20:00+01:00"
    order = Order.objects.get(pk=outcome.result["order_id"])
    assert order.total == Decimal("38.40") and order.currency == "EUR"
    assert order.customer_phone == "+15550107777"
    assert order.estimated_ready_at == dt.datetime(2026, 3, 10, 17, 20, tzinfo=dt.UTC)
    assert sum(line.line_total for line in order.lines.all()) == Decimal("38.40")
    # The total in words (num2words' English names the euro "euro"); a 24-hour business's time as digits.
    assert outcome.message == (f"Your order number {order.pk} comes to thirty-eight euro and forty cents and will be ready "
                               "for pickup at 18:20.")
    assert (outcome.result["total"], outcome.result["total_spoken"]) == ("38.40", "thirty-eight euro and forty cents")


def test_it_merges_repeated_items_with_the_same_notes_into_one_line(in_pizzeria):
    outcome = place([
        {"name": "Margherita", "quantity": 1},
        {"name": "Diavola", "quantity": 1},
        {"name": "margheritas", "quantity": 2},
        {"name": "Margherita", "quantity": 1, "notes": "no basil"},
        {"name": "margarita", "quantity": 1, "notes": "No  Basil"},
    ])
    assert [(line["name"], line["quantity"], line["notes"]) for line in outcome.result["lines"]] == [
        ("Margherita", 3, ""),
        ("Diavola", 1, ""),
        ("Margherita", 2, "no basil"),
    ]
    assert outcome.result["total"] == "59.50"  # 5 × 9.50 + 12.00


def test_it_refuses_a_merged_quantity_over_99(in_pizzeria):
    refused([{"name": "Margherita", "quantity": 60}, {"name": "margherita", "quantity": 40}], code="invalid_quantity")


@pytest.mark.parametrize("quantity", [0, 100, -1, "2", 2.5, 2.0, True, None, [2]])
def test_it_refuses_quantities_that_are_not_whole_numbers_from_1_to_99(in_pizzeria, quantity):
    error = refused([{"name": "Margherita", "quantity": quantity}], code="invalid_quantity")
    assert "between 1 and 99" in error.message


def test_it_takes_1_and_99(in_pizzeria):
    outcome = place([{"name": "Coca-Cola", "quantity": 99}, {"name": "Tiramisu", "quantity": 1}])
    assert outcome.result["total"] == "282.70"  # 99 × 2.80 + 5.50


def test_it_names_the_closest_items_for_an_unknown_item_and_orders_nothing(in_pizzeria):
    error = refused([{"name": "Margherita", "quantity": 1}, {"name": "calzone", "quantity": 1}], code="unknown_item")
    assert error.details["item"] == "calzone"
    assert all(name in error.message for name in error.details["closest"])


def test_it_says_the_unavailable_item_is_not_available_today(in_pizzeria):
    error = refused([{"name": "truffle pizza", "quantity": 1}], code="unknown_item")
    assert error.message.startswith("Sorry, the Truffle Pizza is not available today. The closest we have are ")


@pytest.mark.parametrize("items", [[], None, "margherita"])
def test_it_wants_at_least_one_item(in_pizzeria, items):
    refused(items, code="empty_order")


def test_it_refuses_more_than_50_lines(in_pizzeria):
    refused([{"name": "Margherita", "quantity": 1}] * 51, code="too_many_lines")


@pytest.mark.parametrize("item", [{"quantity": 1}, {"name": "", "quantity": 1}, {"name": 7, "quantity": 1}, "Margherita"])
def test_it_asks_which_item_when_a_line_has_no_name(in_pizzeria, item):
    refused([item], code="invalid_item")


@pytest.mark.parametrize(("now", "opens"), [
    # Tuesday between lunch and dinner: opens again the same day.
    (dt.datetime(2026, 3, 10, 15, 0, tzinfo=BERLIN), "at 17:00"),
    # Tuesday after closing: tomorrow's lunch.
    (dt.datetime(2026, 3, 10, 22, 45, tzinfo=BERLIN), "tomorrow at 11:30"),
    # Early Wednesday morning: today's lunch.
    (dt.datetime(2026, 3, 11, 8, 0, tzinfo=BERLIN), "at 11:30"),
])
def test_it_refuses_orders_while_closed_and_says_when_it_opens(in_pizzeria, now, opens):
    error = refused([{"name": "Margherita", "quantity": 1}], code="closed", now=now)
    assert error.message == f"Sorry, we're closed right now. We open again {opens}."


def test_it_skips_closure_days_when_saying_when_it_opens(in_pizzeria):
    Closure.objects.create(date=dt.date(2026, 3, 11), reason="Staff day")
    error = refused([{"name": "Margherita", "quantity": 1}], code="closed", now=dt.datetime(2026, 3, 10, 23, 0, tzinfo=BERLIN))
    assert error.message == "Sorry, we're closed right now. We open again on Thursday at 11:30."
    refused([{"name": "Margherita", "quantity": 1}], code="closed", now=dt.datetime(2026, 3, 11, 12, 0, tzinfo=BERLIN))


def test_it_says_when_it_opens_across_the_spring_clock_change(in_pizzeria):
    # Saturday 28 March 23:45 CET; clocks go forward that night; Sunday opens 12:00 CEST.
    error = refused([{"name": "Margherita", "quantity": 1}], code="closed", now=dt.datetime(2026, 3, 28, 22, 45, tzinfo=dt.UTC))
    assert error.message == "Sorry, we're closed right now. We open again tomorrow at 12:00."
    assert error.details["opens_at"] == "2026-03-29T12:00:00+02:00"


@pytest.mark.parametrize(("now_utc", "ready"), [
    (dt.datetime(2026, 3, 28, 11, 10, tzinfo=dt.UTC), "2026-03-28T12:30:00+01:00"),  # Saturday, still CET
    (dt.datetime(2026, 3, 29, 10, 10, tzinfo=dt.UTC), "2026-03-29T12:30:00+02:00"),  # Sunday, CEST
    (dt.datetime(2026, 10, 24, 10, 10, tzinfo=dt.UTC), "2026-10-24T12:30:00+02:00"),  # Saturday, CEST
    (dt.datetime(2026, 10, 25, 11, 10, tzinfo=dt.UTC), "2026-10-25T12:30:00+01:00"),  # Sunday, back to CET
])
def test_it_gives_the_ready_time_in_local_time_on_both_sides_of_a_clock_change(in_pizzeria, now_utc, ready):
    outcome = place([{"name": "Margherita", "quantity": 1}], now=now_utc)
    assert outcome.result["estimated_ready_at"] == ready
    assert outcome.message.endswith("will be ready for pickup at 12:30.")


def test_it_adds_delivery_time_and_keeps_the_address(in_pizzeria):
    outcome = place([{"name": "Diavola", "quantity": 2}], fulfillment="delivery", delivery_address="Torstraße 1, Berlin")
    assert outcome.result["fulfillment"] == "delivery"
    assert outcome.result["estimated_ready_at"] == "2026-03-10T18:50:00+01:00"
    assert outcome.message.endswith("comes to twenty-four euro and should arrive at 18:50.")
    assert Order.objects.get().delivery_address == "Torstraße 1, Berlin"


@pytest.mark.parametrize("address", ["", "   ", None])
def test_it_asks_for_the_address_of_a_delivery(in_pizzeria, address):
    error = refused([{"name": "Diavola", "quantity": 1}], code="address_required", fulfillment="delivery", delivery_address=address)
    assert error.message == "What address should we deliver to?"


def test_it_refuses_delivery_when_the_pizzeria_does_not_deliver(in_pizzeria):
    OrderingPolicy.objects.update(delivery_available=False)
    error = refused([{"name": "Diavola", "quantity": 1}], code="delivery_unavailable", fulfillment="delivery",
                    delivery_address="Torstraße 1")
    assert "picked up" in error.message
    assert place([{"name": "Diavola", "quantity": 1}]).result["fulfillment"] == "pickup"


def test_it_ignores_an_address_for_pickup(in_pizzeria):
    place([{"name": "Diavola", "quantity": 1}], delivery_address="Torstraße 1")
    assert Order.objects.get().delivery_address == ""


def test_it_refuses_an_unknown_fulfillment(in_pizzeria):
    refused([{"name": "Diavola", "quantity": 1}], code="invalid_fulfillment", fulfillment="drone")


@pytest.mark.parametrize("phone", ["", "12", "not a number", None])
def test_it_refuses_a_phone_number_that_is_not_one(in_pizzeria, phone):
    refused([{"name": "Diavola", "quantity": 1}], code="invalid_phone", customer_phone=phone)


def test_it_wants_a_name(in_pizzeria):
    refused([{"name": "Diavola", "quantity": 1}], code="invalid_name", customer_name="  ")


def test_it_queues_one_sms_confirmation_after_commit(in_pizzeria, django_capture_on_commit_callbacks, settings):
    settings.SIGNALWIRE_SPACE_URL = ""
    AgentSettings.objects.update(sms_confirmations=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = place([{"name": "Diavola", "quantity": 1}])
    assert len(callbacks) == 1
    sms = SmsMessage.objects.get()
    assert sms.order_id == outcome.result["order_id"]
    assert sms.status == SmsMessage.Status.SKIPPED  # SignalWire is not configured here


def test_it_queues_no_sms_when_the_order_is_refused(in_pizzeria, django_capture_on_commit_callbacks):
    AgentSettings.objects.update(sms_confirmations=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(DomainError):
        place([{"name": "calzone", "quantity": 1}])
    assert callbacks == [] and not SmsMessage.objects.exists()
