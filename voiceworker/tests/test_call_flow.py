"""Transfers, the time limit and the end-of-call log, end to end: the agent in text mode, the real
internal API, the real livekit-api client against a local Twirp endpoint."""
import asyncio
import json

import pytest
from django_tenants.utils import schema_context
from livekit import api

from calls.models import Call, CallbackRequest, ToolInvocation, TranscriptTurn
from core.call_contract import WarningsConfig
from testing.demo_tenants import SALON_NUMBER
from voiceworker.call_control import LiveKitCallControl
from voiceworker.call_job import build_watchdog, send_log
from voiceworker.call_logger import CallLogger
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import ScriptedLLM, free_port_url
from voiceworker.tests.helpers import close, spoken, start_text_call, turn
from voiceworker.watchdog import FakeClock

ROOM = "salon-call-room"
SIP_IDENTITY = "sip_+15555550123"


async def livekit_control(fake_livekit) -> tuple[LiveKitCallControl, api.LiveKitAPI]:
    lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret="a-secret-long-enough-for-hs256-signing")
    return LiveKitCallControl(lkapi=lkapi, room_name=ROOM, participant_identity=SIP_IDENTITY), lkapi


async def until(condition, seconds: float = 10) -> None:
    """Wait for something the session does in the background (a reply, a hang-up)."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def test_it_transfers_the_caller_during_escalation_hours(live_api, friday_noon, fake_livekit):
    model = ScriptedLLM([{"tool_calls": [("transfer_to_human", {"reason": "Wants to speak to the owner"})]}])

    async def conversation():
        control, lkapi = await livekit_control(fake_livekit)
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control, room=ROOM)
        await turn(session, "Can I speak to the owner?")
        await close(session, call)
        await lkapi.aclose()
        return call

    call = asyncio.run(conversation())
    (transfer,) = fake_livekit.transfers
    assert (transfer["room"], transfer["participant_identity"]) == (ROOM, SIP_IDENTITY)
    assert transfer["transfer_to"].endswith("+15550100900")
    # The caller heard why the line went quiet, then the room was closed behind them.
    assert spoken(call) == ["I'm transferring you to a colleague now, please hold the line."]
    assert fake_livekit.deleted_rooms == [ROOM]
    assert (call.outcome, call.transferred_to) == ("transferred", transfer["transfer_to"])
    with schema_context("salon"):
        assert Call.objects.get(pk=call.call_id).transferred_to == transfer["transfer_to"]


def test_a_failed_transfer_falls_back_to_a_callback(live_api, friday_noon, fake_livekit):
    fake_livekit.transfer_outcome = "sip_error"
    model = ScriptedLLM([
        {"tool_calls": [("transfer_to_human", {"reason": "Wants to speak to the owner"})]},
        {"content": "I'm sorry, I couldn't put you through; the team will call you back."},
    ])

    async def conversation():
        control, lkapi = await livekit_control(fake_livekit)
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control, room=ROOM)
        result = await turn(session, "Can I speak to the owner?")
        await close(session, call)
        await lkapi.aclose()
        return result, call

    result, call = asyncio.run(conversation())
    assert len(fake_livekit.transfers) == 1
    assert fake_livekit.deleted_rooms == []  # the caller is still with us
    (output,) = [event.item for event in result.events if event.type == "function_call_output"]
    answer = json.loads(output.output)
    assert answer["transfer_failed"] is True
    assert answer["result"]["action"] == "callback"
    assert answer["message"].startswith("I couldn't put you through")
    # The caller hears why at once — a fixed sentence, before the model says what happens next.
    assert spoken(call)[-3:] == ["I'm transferring you to a colleague now, please hold the line.",
                                 "I'm sorry, that line is busy right now.",
                                 "I'm sorry, I couldn't put you through; the team will call you back."]
    assert answer["caller_already_told"]
    # The REFER rang for the business's timeout and told the person why and who.
    (transfer,) = fake_livekit.transfers
    assert transfer["ringing_timeout"] == 18
    assert transfer["headers"] == {"X-Soniq-Reason": "Wants to speak to the owner", "X-Soniq-Caller": CALLER_NUMBER}
    (attempt,) = call.recorder.build_log(outcome="callback", end_reason="")["transfer_attempts"]
    assert (attempt["target"], attempt["kind"], attempt["outcome"], attempt["sip_status"]) == (
        transfer["transfer_to"], "cold", "busy", 486)
    with schema_context("salon"):
        assert CallbackRequest.objects.get().caller_number == CALLER_NUMBER
        assert Call.objects.get(pk=call.call_id).transferred_to == ""


def test_a_reason_cannot_add_a_header_to_the_refer(live_api, friday_noon, fake_livekit):
    model = ScriptedLLM([{"tool_calls": [("transfer_to_human", {
        "reason": "Owner\r\nX-Injected: 1\t please   now"})]}])

    async def conversation():
        control, lkapi = await livekit_control(fake_livekit)
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control, room=ROOM)
        await turn(session, "Can I speak to the owner?")
        await close(session, call)
        await lkapi.aclose()

    asyncio.run(conversation())
    (transfer,) = fake_livekit.transfers
    assert transfer["headers"]["X-Soniq-Reason"] == "Owner X-Injected: 1 please now"


def test_the_time_limit_warns_twice_then_transfers(live_api, friday_noon, fake_livekit):
    model = ScriptedLLM([
        {"content": "Just so you know, we have about two minutes left."},
        {"content": "We'll need to wrap up in thirty seconds."},
    ])

    async def conversation():
        clock = FakeClock()
        control, lkapi = await livekit_control(fake_livekit)
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model, control=control, room=ROOM)
        watchdog = build_watchdog(session, call, clock=clock)
        watchdog.start()
        await clock.advance(480)
        await until(lambda: len(spoken(call)) == 1)
        await clock.advance(90)
        await until(lambda: len(spoken(call)) == 2)
        await clock.advance(30)
        # `over` is set as the hang-up starts; the room deletion reaches LiveKit a moment later.
        await until(lambda: call.over and fake_livekit.deleted_rooms)
        await watchdog.stop()
        await close(session, call)
        await lkapi.aclose()
        return call

    call = asyncio.run(conversation())
    assert spoken(call) == [
        "Just so you know, we have about two minutes left.",
        "We'll need to wrap up in thirty seconds.",
        "We've reached the time limit for this call, so I'm transferring you to a colleague now.",
    ]
    # The warnings were the model's to phrase, from the watchdog's instructions.
    first_warning_request = model.requests[0][0]
    assert "about 2 more minutes" in first_warning_request.items[-1].text_content
    assert fake_livekit.transfers[0]["transfer_to"].endswith("+15550100900")
    assert fake_livekit.deleted_rooms == [ROOM]
    assert call.outcome == "transferred"
    assert call.recorder.tool_calls[0]["name"] == "transfer_to_human"


def test_at_the_time_limit_with_nobody_to_transfer_to_it_queues_a_callback_and_hangs_up(
        live_api, saturday_morning, fake_livekit):
    async def conversation():
        clock = FakeClock()
        control, lkapi = await livekit_control(fake_livekit)
        session, call = await start_text_call(called_number=SALON_NUMBER, model=ScriptedLLM([]), control=control,
                                              room=ROOM)
        call.config = call.config.model_copy(  # straight to the end
            update={"warnings": WarningsConfig(first_seconds=0, final_seconds=0)})
        watchdog = build_watchdog(session, call, clock=clock)
        watchdog.start()
        await clock.advance(600)
        # The hang-up comes first; the end_call record follows it.
        await until(lambda: fake_livekit.deleted_rooms and len(call.recorder.tool_calls) == 2)
        await close(session, call)
        await lkapi.aclose()
        return call

    call = asyncio.run(conversation())
    (goodbye,) = spoken(call)
    assert goodbye.startswith("I'm sorry, we've reached the time limit for this call. Nobody can take the call right now")
    assert goodbye.endswith("Goodbye!")
    assert fake_livekit.transfers == []
    assert fake_livekit.deleted_rooms == [ROOM]
    assert [tool_call["name"] for tool_call in call.recorder.tool_calls] == ["transfer_to_human", "end_call"]
    with schema_context("salon"):
        assert CallbackRequest.objects.get().reason == "The call reached its maximum length."
        recorded = Call.objects.get(pk=call.call_id)
        assert (recorded.outcome, recorded.end_reason) == ("callback", "The call reached its maximum length.")


@pytest.fixture
def celery_in_the_request():
    """The API hands the transcript to Celery; run that task in the request, as a worker would."""
    from core.celery_app import app as celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_the_call_log_reaches_the_api_and_is_stored(live_api, spool_dir, celery_in_the_request):
    model = ScriptedLLM([
        {"tool_calls": [("log_note", {"note": "Asked about parking."})]},
        {"content": "There's parking behind the building."},
    ])

    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=model)
        await turn(session, "Is there parking?")
        await session.aclose()
        call.settle(outcome="answered", end_reason="The caller hung up.")
        delivered = await send_log(call, call_logger=CallLogger(api_url=live_api.url, spool_dir=spool_dir))
        await call.api.aclose()
        return call, delivered

    call, delivered = asyncio.run(conversation())
    assert delivered and not list(spool_dir.glob("*.json"))
    with schema_context("salon"):
        recorded = Call.objects.get(pk=call.call_id)
        assert recorded.status == Call.Status.ENDED
        assert (recorded.outcome, recorded.end_reason) == ("answered", "The caller hung up.")
        assert recorded.duration_seconds is not None
        assert [(turn.role, turn.text) for turn in TranscriptTurn.objects.filter(call=recorded)] == [
            ("user", "Is there parking?"), ("assistant", "There's parking behind the building.")]
        (tool_call,) = ToolInvocation.objects.filter(call=recorded)
        assert (tool_call.name, tool_call.arguments, tool_call.is_error) == ("log_note", {"note": "Asked about parking."}, False)
        assert tool_call.result["message"] == "I've made a note of that."
        assert recorded.metrics["latency"][0]["turn"] == 1


def test_a_log_spooled_while_the_api_was_down_reaches_it_later(live_api, spool_dir):
    async def conversation():
        session, call = await start_text_call(called_number=SALON_NUMBER, model=ScriptedLLM([{"content": "Hello!"}]))
        await turn(session, "Hi")
        await session.aclose()
        await call.api.aclose()
        down = CallLogger(api_url=free_port_url(), spool_dir=spool_dir)
        sent_at_once = await send_log(call, call_logger=down)
        back = CallLogger(api_url=live_api.url, spool_dir=spool_dir)
        return call, sent_at_once, await back.resend_spooled(), await back.resend_spooled()

    call, sent_at_once, first_resend, second_resend = asyncio.run(conversation())
    assert (sent_at_once, first_resend, second_resend) == (False, 1, 0)
    with schema_context("salon"):
        recorded = Call.objects.get(pk=call.call_id)
        assert recorded.status == Call.Status.ENDED
        assert recorded.outcome == "other"
