"""A caller moves and cancels a booking end to end: the agent in text mode, the real internal API on
real PostgreSQL, once with the scripted model and once with the real livekit OpenAI plugin streaming
from a local OpenAI-compatible endpoint."""
import asyncio
import datetime as dt
import json

from django_tenants.utils import schema_context

from core.call_contract import CallConfig, LlmConfig
from testing.demo_tenants import SALON_NUMBER
from voiceworker.providers import build_llm
from voiceworker.tests.conftest import CALLER_NUMBER, FRIDAY_NOON_NEW_YORK
from voiceworker.tests.fakes import ScriptedLLM
from voiceworker.tests.helpers import close, spoken, start_text_call, turn


def a_booking() -> int:
    from bookings.voice import create_booking

    with schema_context("salon"):
        return create_booking(service_name="Haircut", start="2026-12-08T10:00", customer_name="Dana Scully",
                              customer_phone=CALLER_NUMBER, now=FRIDAY_NOON_NEW_YORK).result["booking_id"]


def the_booking(booking_id: int):
    from bookings.models import Booking

    with schema_context("salon"):
        booking = Booking.objects.get(pk=booking_id)
        return booking, list(booking.events.values_list("kind", "call_id"))


def tool_outputs(result) -> list:
    return [event.item for event in result.events if event.type == "function_call_output"]


def test_a_caller_moves_their_booking_with_the_scripted_model(live_api, friday_noon):
    booking_id = a_booking()
    model = ScriptedLLM([
        {"tool_calls": [("find_bookings", {"customer_phone": None, "customer_name": None})]},
        {"tool_calls": [("reschedule_booking", {"booking_id": booking_id, "start": "2026-12-08T15:00",
                                                "customer_phone": None, "customer_name": "Dana Scully"})]},
        {"content": "Done, you're now at three on Tuesday."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        result = await turn(session, "Can I move my Tuesday haircut to three?")
        await close(session, call)
        return result, call

    result, call = asyncio.run(conversation())
    found, moved = tool_outputs(result)
    assert not found.is_error and not moved.is_error, (found.output, moved.output)
    assert [entry["booking_id"] for entry in json.loads(found.output)["result"]["bookings"]] == [booking_id]
    booking, events = the_booking(booking_id)
    assert booking.start == dt.datetime(2026, 12, 8, 20, 0, tzinfo=dt.UTC)  # 15:00 EST
    assert [(kind, str(call_id)) for kind, call_id in events] == [("moved", call.call_id)]
    assert spoken(call)[-1] == "Done, you're now at three on Tuesday."


def test_a_caller_cancels_their_booking_through_the_openai_plugin(live_api, friday_noon, fake_openai, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    booking_id = a_booking()
    fake_openai.steps = [
        {"tool_calls": [("find_bookings", {"customer_phone": None, "customer_name": None})]},
        {"tool_calls": [("cancel_booking", {"booking_id": booking_id, "reason": "Out of town",
                                            "customer_phone": None, "customer_name": "Dana Scully"})]},
        {"content": "Your haircut on Tuesday is cancelled."},
    ]

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=build_llm(CallConfig(llm=LlmConfig(model="gpt-4.1-mini"))))
        result = await turn(session, "Please cancel my haircut, I'm out of town.")
        await close(session, call)
        return result, call

    result, call = asyncio.run(conversation())
    found, cancelled = tool_outputs(result)
    assert not cancelled.is_error, cancelled.output
    assert json.loads(cancelled.output)["result"] == {"booking_id": booking_id, "status": "cancelled"}
    booking, events = the_booking(booking_id)
    assert booking.status == "cancelled"
    assert [kind for kind, _call in events] == ["cancelled_by_caller"]
    # The tools the model was offered describe the look-up-first rule.
    tools = {tool["function"]["name"]: tool["function"] for tool in fake_openai.requests[0]["tools"]}
    assert "after reading the booking back" in tools["cancel_booking"]["description"]
    assert "find_bookings" in tools["reschedule_booking"]["description"]
    assert spoken(call)[-1] == "Your haircut on Tuesday is cancelled."
