"""The keypad (issue 21 item 7): the caller's key presses, as the SIP bridge reports RFC 2833 DTMF to
the room. "0" reaches a person the way transfer_to_human does, or queues a callback when nobody
takes transfers; digits typed when the agent asks for a number reach the model as the caller's
words. Through the real session, the real internal API and the local LiveKit Twirp endpoint."""
from __future__ import annotations

import asyncio

from django_tenants.utils import schema_context

from calls.models import CallbackRequest
from tenants.agent.models import AgentSettings
from voiceworker.tests.test_failure_paths import ROOM, logged, start_voice_call, until


def test_zero_reaches_a_person_during_escalation_hours(voice, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.presses("0")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    (transfer,) = fake_livekit.transfers
    assert transfer["transfer_to"].endswith("+15550100900")
    assert voice_call.heard == "I'm transferring you to a colleague now, please hold the line."
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("transferred", "The caller pressed 0 on the keypad to reach a person.")


def test_the_key_the_business_chose_reaches_a_person_and_zero_is_then_a_digit(voice, fake_openai, fake_livekit):
    fake_openai.steps = [{"content": "Thanks, I have 0."}]
    with schema_context("salon"):
        AgentSettings.objects.update(keypad_operator_key="#")  # in the admin: "key to reach a person"

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.presses("0")
        await until(lambda: voice_call.heard)
        voice_call.presses("#")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    try:
        voice_call = asyncio.run(conversation())
    finally:
        with schema_context("salon"):
            AgentSettings.objects.update(keypad_operator_key="0")
    assert fake_openai.requests[0]["messages"][-1]["content"] == "(typed on the keypad) 0"
    (transfer,) = fake_livekit.transfers
    assert transfer["transfer_to"].endswith("+15550100900")
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("transferred", "The caller pressed # on the keypad to reach a person.")


def test_zero_queues_a_callback_when_nobody_takes_transfers(live_api, saturday_morning, fake_openai, fake_livekit,
                                                            spool_dir, settings):
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake_openai.base_url, "test-key"

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.presses("0")
        await until(lambda: voice_call.heard and voice_call.audio.finished_at)
        still_on_the_line = fake_livekit.deleted_rooms == []
        voice_call.hangs_up()
        await voice_call.end(spool_dir, live_api.url)
        return voice_call, still_on_the_line

    voice_call, still_on_the_line = asyncio.run(conversation())
    assert fake_livekit.transfers == [] and still_on_the_line
    with schema_context("salon"):
        (callback,) = CallbackRequest.objects.all()
    assert callback.reason == "The caller pressed 0 on the keypad to reach a person."
    assert "call you back" in voice_call.heard  # the API's own sentence about the callback
    assert logged(voice_call.call).outcome == "callback"


def test_digits_typed_for_a_number_reach_the_model_as_the_callers_words(voice, fake_openai, fake_livekit):
    fake_openai.steps = [{"content": "Thanks, I have 555 0123."}]

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.presses("5550123#")
        await until(lambda: voice_call.heard)
        voice_call.hangs_up()
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    (request,) = fake_openai.requests
    assert request["messages"][-1] == {"role": "user", "content": "(typed on the keypad) 5550123"}
    assert voice_call.heard == "Thanks, I have 555 0123."
    assert fake_livekit.transfers == [] and fake_livekit.deleted_rooms == [ROOM]  # deleted at the hang-up only


def test_a_number_with_a_zero_in_it_is_no_request_for_a_person(voice, fake_openai, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.presses("01")  # then the caller stops typing
        await until(lambda: fake_openai.requests)
        voice_call.hangs_up()
        await voice_call.end(voice["spool_dir"], voice["api_url"])

    asyncio.run(conversation())
    assert fake_openai.requests[0]["messages"][-1]["content"] == "(typed on the keypad) 01"
    assert fake_livekit.transfers == []
