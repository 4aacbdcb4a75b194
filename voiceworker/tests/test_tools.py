"""The voice tools end to end: the agent in text mode with a scripted model, the real internal API on
real PostgreSQL, and the rows that appear in the tenant's schema."""
import asyncio
import json

from asgiref.sync import sync_to_async
from django_tenants.utils import schema_context

from calls.models import Call, CallbackRequest, CallNote
from testing.demo_tenants import PIZZERIA_NUMBER, SALON_NUMBER
from voiceworker.call_control import LoggingCallControl
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import ScriptedLLM, last_tool_output
from voiceworker.tests.helpers import close, free_starts, spoken, start_text_call, turn


def tool_outputs(result) -> list:
    return [event.item for event in result.events if event.type == "function_call_output"]


def test_it_books_an_appointment_at_the_salon(live_api, friday_noon):
    def book_first_free_start(chat_ctx):
        start = free_starts(last_tool_output(chat_ctx)["result"])[0]
        return {"tool_calls": [("create_booking", {"service": "haircut", "start": start[:16], "customer_name": "Dana Scully",
                                                   "customer_phone": CALLER_NUMBER, "notes": None, "confirmed": True})]}

    model = ScriptedLLM([
        {"tool_calls": [("check_availability", {"service": "haircuts", "date": "2026-12-08", "time": "10:00"})]},
        book_first_free_start,
        {"content": "You're booked for Tuesday."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        result = await turn(session, "A haircut on Tuesday at ten, please. I'm Dana Scully.")
        await close(session, call)
        return result, call

    result, call = asyncio.run(conversation())
    availability, booking = tool_outputs(result)
    assert not availability.is_error and not booking.is_error
    with schema_context("salon"):
        from bookings.models import Booking

        booked = Booking.objects.get()
        assert booked.customer_name == "Dana Scully"
        assert booked.service.name == "Haircut"
        assert str(booked.call_id) == call.call_id
    assert json.loads(booking.output)["result"]
    assert spoken(call)[-1] == "You're booked for Tuesday."


def bookings_at_the_salon() -> int:
    from bookings.models import Booking

    with schema_context("salon"):
        return Booking.objects.count()


def test_it_reads_the_booking_back_and_books_only_after_the_callers_yes(live_api, friday_noon):
    booking = {"service": "haircut", "start": "2026-12-08T10:00", "customer_name": "Dana Scully",
               "customer_phone": CALLER_NUMBER, "notes": None}
    model = ScriptedLLM([
        {"tool_calls": [("create_booking", {**booking, "confirmed": False})]},
        lambda chat_ctx: {"content": last_tool_output(chat_ctx)["read_back"]},
        {"tool_calls": [("create_booking", {**booking, "confirmed": True})]},
        {"content": "You're booked."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        asked = await turn(session, "A haircut on Tuesday at ten, please. I'm Dana Scully.")
        nothing_yet = await sync_to_async(bookings_at_the_salon)()
        answered = await turn(session, "Yes, that's right.")
        await close(session, call)
        return asked, answered, nothing_yet, call

    asked, answered, nothing_yet, call = asyncio.run(conversation())
    (read_back,) = tool_outputs(asked)
    # Not an error the model apologises for: the read-back to say, and what to do next.
    assert not read_back.is_error
    assert json.loads(read_back.output)["confirmed"] is False
    assert nothing_yet == 0
    assert any(said.startswith("Just to confirm: a Haircut on Tuesday 8 December at ten a.m., under the name Dana "
                               "Scully, and your phone number is ") for said in spoken(call))
    (booked,) = tool_outputs(answered)
    assert not booked.is_error and json.loads(booked.output)["result"]["booking_id"]


def test_it_places_an_order_at_the_pizzeria(live_api, friday_noon):
    model = ScriptedLLM([
        {"tool_calls": [("create_order", {
            "items": [{"name": "margaritas", "quantity": 2, "notes": None}, {"name": "coke", "quantity": 1, "notes": None}],
            "customer_name": "Mario Rossi", "customer_phone": CALLER_NUMBER, "fulfillment": "pickup",
            "delivery_address": None, "notes": None, "confirmed": True})]},
        {"content": "That's 21.80 euros, ready in twenty minutes."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=PIZZERIA_NUMBER, model=model)
        result = await turn(session, "Two margaritas and a coke for pickup, Mario Rossi.")
        await close(session, call)
        return result

    result = asyncio.run(conversation())
    (order_output,) = tool_outputs(result)
    assert not order_output.is_error, order_output.output
    with schema_context("pizzeria"):
        from orders.models import Order

        order = Order.objects.get()
        assert order.customer_name == "Mario Rossi"
        assert sorted((line.quantity, line.menu_item.name) for line in order.lines.all()) == [(1, "Coca-Cola"), (2, "Margherita")]
    assert json.loads(order_output.output)["result"]["total"] == "21.80"


def test_it_tells_the_model_what_the_api_refused(live_api, friday_noon):
    model = ScriptedLLM([
        {"tool_calls": [("check_availability", {"service": "massage", "date": "2026-12-08", "time": None})]},
        {"content": "We don't do massages."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        result = await turn(session, "Can I get a massage on Tuesday?")
        await close(session, call)
        return result

    (output,) = tool_outputs(asyncio.run(conversation()))
    assert output.is_error
    assert "Haircut" in output.output  # the API's sentence names the services offered


def test_it_leaves_a_note_for_the_business(live_api, friday_noon):
    model = ScriptedLLM([
        {"tool_calls": [("log_note", {"note": "Caller says the parking entrance is blocked."})]},
        {"content": "I've passed that on."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        result = await turn(session, "Tell them the parking entrance is blocked.")
        await close(session, call)
        return result, call

    result, call = asyncio.run(conversation())
    (output,) = tool_outputs(result)
    assert json.loads(output.output)["message"] == "I've made a note of that."
    with schema_context("salon"):
        note = CallNote.objects.get()
        assert note.text == "Caller says the parking entrance is blocked."
        assert str(note.call_id) == call.call_id


def test_it_queues_a_callback_when_nobody_can_take_the_call(live_api, saturday_morning):
    model = ScriptedLLM([
        {"tool_calls": [("transfer_to_human", {"reason": "Wants to discuss a colour correction"})]},
        {"content": "Someone will call you back within two hours."},
    ])
    control = LoggingCallControl()

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control)
        result = await turn(session, "Can I talk to a person?")
        await close(session, call)
        return result

    (output,) = tool_outputs(asyncio.run(conversation()))
    answer = json.loads(output.output)
    assert answer["result"]["action"] == "callback"
    assert "call you back" in answer["message"]
    assert control.transfers == []
    with schema_context("salon"):
        callback = CallbackRequest.objects.get()
        assert callback.caller_number == CALLER_NUMBER
        assert callback.reason == "Wants to discuss a colour correction"


def test_it_says_goodbye_records_the_outcome_and_hangs_up(live_api, friday_noon):
    model = ScriptedLLM([{"tool_calls": [("end_call", {"outcome": "answered", "reason": "Asked about opening hours"})]}])
    control = LoggingCallControl()

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control)
        result = await turn(session, "That's all, thanks.")
        await close(session, call)
        return result, call

    result, call = asyncio.run(conversation())
    assert control.hung_up and call.over
    # The model said nothing itself, so the agent said the API's goodbye before hanging up.
    assert spoken(call) == ["Thank you for calling. Goodbye!"]
    with schema_context("salon"):
        recorded = Call.objects.get(pk=call.call_id)
        assert (recorded.outcome, recorded.end_reason) == ("answered", "Asked about opening hours")


def test_it_does_not_say_goodbye_twice(live_api, friday_noon):
    model = ScriptedLLM([{"content": "Bye now!", "tool_calls": [("end_call", {"outcome": "answered", "reason": "Done"})]}])
    control = LoggingCallControl()

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control)
        await turn(session, "Bye.")
        await close(session, call)
        return call

    call = asyncio.run(conversation())
    assert spoken(call) == ["Bye now!"]
    assert control.hung_up


def test_it_offers_only_the_tools_of_the_business(live_api, friday_noon):
    model = ScriptedLLM([{"content": "Hello!"}])

    async def conversation():
        session, call = await start_text_call(called_number=PIZZERIA_NUMBER, model=model)
        await turn(session, "Hi")
        await close(session, call)

    asyncio.run(conversation())
    _, tools = model.requests[0]
    assert sorted(tool.id for tool in tools) == ["create_order", "end_call", "log_note", "order_status", "transfer_to_human"]
