"""The voice tools answer in the business's language: a Spanish salon's caller hears Spanish refusals,
offers and confirmations; an English one's stay English (core/catalogs.py, locale/es)."""
import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from tenants.agent.models import AgentSettings
from voiceapi.tests.voice_api import CALLER, a_call, assert_error, tenant_named, tool

# Monday 9 March 2026, 10:00 in New York. The salon is closed on Mondays.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


def a_booking(**overrides):
    return {"service": "colour", "start": "2026-03-10T14:00", "customer_name": "Ana García",
            "customer_phone": CALLER, "notes": "", "confirmed": True, **overrides}


@pytest.fixture
def salon_speaking(committed_db, monkeypatch):
    """The salon with its agent in a given language for the test."""
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    salon = tenant_named("salon")
    with tenant_context(salon):
        before = AgentSettings.objects.get().language

    def speaking(language: str):
        with tenant_context(salon):
            AgentSettings.objects.update(language=language)
        return a_call(salon)

    yield speaking
    with tenant_context(salon):
        AgentSettings.objects.update(language=before)


def test_a_spanish_business_refuses_a_taken_slot_in_spanish(api_server, salon_speaking):
    _call, token = salon_speaking("es")
    booked = tool(api_server, token, "create_booking", a_booking())
    assert booked.status_code == 200, booked.text
    assert booked.json()["message"] == (
        "Queda reservada su cita de Colour mañana a las dos de la tarde, hasta las tres y media de la tarde, a nombre "
        f"de Ana García. Su número de reserva es el {booked.json()['result']['booking_id']}.")

    error = assert_error(tool(api_server, token, "create_booking", a_booking(customer_name="Bob")), 409, "slot_taken")

    assert error["message"] == ("Lo siento, mañana a las dos de la tarde ya está ocupado para Colour. Puedo ofrecerle "
                                "mañana a las tres y cuarenta y cinco de la tarde, las cuatro de la tarde o las cuatro y "
                                "quince de la tarde.")


def test_an_english_business_refuses_a_taken_slot_in_english(api_server, salon_speaking):
    _call, token = salon_speaking("en")
    assert tool(api_server, token, "create_booking", a_booking()).status_code == 200

    error = assert_error(tool(api_server, token, "create_booking", a_booking(customer_name="Bob")), 409, "slot_taken")

    assert error["message"] == ("Sorry, two p.m. tomorrow is already taken for a Colour. I can offer three forty-five "
                                "p.m., four p.m. or four fifteen p.m. tomorrow.")


def test_a_spanish_business_offers_free_times_and_names_its_services_in_spanish(api_server, salon_speaking):
    _call, token = salon_speaking("es-MX")  # a region of an offered language is that language
    closed = tool(api_server, token, "check_availability", {"service": "Haircut", "date": "2026-03-09"}).json()
    unknown = assert_error(tool(api_server, token, "check_availability", {"service": "masaje", "date": "2026-03-10"}),
                           422, "unknown_service")

    assert closed["message"].startswith("Lo siento, hoy estamos cerrados. El próximo día con horas libres es "
                                        "mañana: ")
    assert unknown["message"].startswith("Lo siento, no ofrecemos masaje. Ofrecemos ")
    assert " y " in unknown["message"]


def test_a_malformed_request_is_still_explained_in_english_for_the_model(api_server, salon_speaking):
    _call, token = salon_speaking("es")
    error = assert_error(tool(api_server, token, "create_booking", {"service": "colour"}), 400, "invalid_request")
    assert "required" in error["message"]


def test_a_spanish_business_on_the_24_hour_clock_says_the_total_and_the_time_in_spanish_words(api_server, committed_db,
                                                                                              monkeypatch):
    from voiceapi.tests.test_voice_tools_orders import FRIDAY_EVENING, an_order

    monkeypatch.setattr("core.clock.now", lambda: FRIDAY_EVENING)
    pizzeria = tenant_named("pizzeria")
    with tenant_context(pizzeria):
        AgentSettings.objects.update(language="es")
    try:
        _call, token = a_call(pizzeria)
        placed = tool(api_server, token, "create_order", an_order()).json()
    finally:
        with tenant_context(pizzeria):
            AgentSettings.objects.update(language="en")

    assert placed["message"] == (f"Su pedido número {placed['result']['order_id']} suma veintiún euros con ochenta "
                                 "céntimos y estará listo para recoger a las diecinueve y veinte.")
    assert placed["result"]["estimated_ready_spoken"] == "hoy a las diecinueve y veinte"
