"""Names and numbers are read back before anything is written: create_booking and create_order
without `confirmed: true` write nothing and answer 422 `not_confirmed` with the read-back to say (the
phone number digit by digit, the time and the total in words); the same call with `confirmed: true`
books. Times, dates, prices and numbers come in words beside their machine forms (core/reading.py)."""
import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from bookings.models import Booking
from orders.models import Order
from tenants.agent.models import AgentSettings
from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING, an_order
from voiceapi.tests.voice_api import a_call, assert_error, tenant_named, tool

# Monday 9 March 2026, 10:00 in New York (the salon is a US business: 12-hour clock).
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


def a_booking(**overrides):
    return {"service": "colour", "start": "2026-03-10T14:30", "customer_name": "Ann Smith",
            "customer_phone": "+1 555 765 4321", **overrides}


@pytest.fixture
def salon_call(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    return a_call(tenant_named("salon"))


def bookings():
    with tenant_context(tenant_named("salon")):
        return list(Booking.objects.all())


def test_an_unconfirmed_booking_is_read_back_and_not_made(api_server, salon_call):
    _call, token = salon_call
    error = assert_error(tool(api_server, token, "create_booking", a_booking()), 422, "not_confirmed")

    assert error["message"] == ("Just to confirm: a Colour tomorrow at two thirty p.m., under the name Ann Smith, and "
                                "your phone number is five five five, seven six five, four three two one. Is that "
                                "right?")
    assert error["details"]["start_spoken"] == "tomorrow at two thirty p.m."
    assert bookings() == []

    booked = tool(api_server, token, "create_booking", {**a_booking(), "confirmed": True})
    assert booked.status_code == 200, booked.text
    assert booked.json()["message"].startswith("You're booked for a Colour tomorrow at two thirty p.m., until four p.m.")
    assert booked.json()["result"]["start"] == "2026-03-10T14:30:00-04:00"
    assert booked.json()["result"]["start_spoken"] == "tomorrow at two thirty p.m."
    assert booked.json()["result"]["customer_phone_spoken"] == "five five five, seven six five, four three two one"
    assert len(bookings()) == 1


def test_what_cannot_be_booked_is_refused_before_the_read_back(api_server, salon_call):
    _call, token = salon_call
    assert_error(tool(api_server, token, "create_booking", a_booking(customer_phone="12")), 422, "invalid_phone")
    assert_error(tool(api_server, token, "create_booking", a_booking(service="massage")), 422, "unknown_service")
    assert bookings() == []


def test_free_times_come_in_words_beside_their_iso_form(api_server, salon_call):
    _call, token = salon_call
    body = tool(api_server, token, "check_availability", {"service": "Blow Dry", "date": "2026-03-12", "time": "12:00"}).json()

    assert body["result"]["requested_start"] == "2026-03-12T12:00:00-04:00"
    assert body["message"] == "Yes, a Blow Dry on Thursday 12 March at noon is free."
    assert body["result"]["available_starts_spoken"][0] == "Thursday, March twelfth at noon"
    assert len(body["result"]["available_starts_spoken"]) == len(body["result"]["available_starts"])


@pytest.fixture
def pizzeria_call(committed_db, monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    return a_call(tenant_named("pizzeria"))


def test_an_unconfirmed_order_is_read_back_with_its_total_in_words_and_not_placed(api_server, pizzeria_call):
    call, token = pizzeria_call
    unconfirmed = {key: value for key, value in an_order().items() if key != "confirmed"}
    error = assert_error(tool(api_server, token, "create_order", unconfirmed), 422, "not_confirmed")

    # A German business: the US caller's number is read with its country code.
    assert error["message"] == ("Just to confirm: 2 Margherita and 1 Coca-Cola, for pickup, under the name Ann Smith, "
                                "and your phone number is one, five five five, seven six five, four three two one. That "
                                "comes to twenty-one euro and eighty cents. Is that right?")
    with tenant_context(tenant_named("pizzeria")):
        assert not Order.objects.filter(call_id=call.pk).exists()

    placed = tool(api_server, token, "create_order", an_order()).json()
    assert placed["result"]["total"] == "21.80"
    assert placed["result"]["total_spoken"] == "twenty-one euro and eighty cents"
    assert placed["message"].startswith(f"Your order number {placed['result']['order_id']} comes to twenty-one euro "
                                        "and eighty cents and will be ready for pickup at ")


def test_a_spanish_business_reads_back_in_spanish(api_server, salon_call):
    _call, token = salon_call
    with tenant_context(tenant_named("salon")):
        AgentSettings.objects.update(language="es")
    try:
        error = assert_error(tool(api_server, token, "create_booking", a_booking()), 422, "not_confirmed")
    finally:
        with tenant_context(tenant_named("salon")):
            AgentSettings.objects.update(language="en")
    assert error["message"] == ("Para confirmar: una cita de Colour mañana a las dos y media de la tarde, a nombre de "
                                "Ann Smith, y su número de teléfono es el cinco cinco cinco, siete seis cinco, cuatro "
                                "tres dos uno. ¿Es correcto?")


def test_a_currency_without_words_in_num2words_is_named_from_cldr(api_server, pizzeria_call):
    from orders.models import MenuItem

    _call, token = pizzeria_call
    # A Swiss pizzeria: num2words has no names for the franc in English; the total is not read as "21.80 CHF".
    with tenant_context(tenant_named("pizzeria")):
        MenuItem.objects.update(currency="CHF")
    try:
        placed = tool(api_server, token, "create_order", an_order()).json()
    finally:
        with tenant_context(tenant_named("pizzeria")):
            MenuItem.objects.update(currency="EUR")
    assert placed["result"]["total"] == "21.80"
    assert placed["result"]["total_spoken"] == "twenty-one Swiss francs and eighty"
