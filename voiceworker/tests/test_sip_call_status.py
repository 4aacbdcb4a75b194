"""The SIP call's own status (issue 21 item 4): an inbound caller joins the room while their phone
still rings (`sip.callStatus` "ringing"); the greeting and the call's clock start at "active", and
"hangup" is the caller gone. The carrier's Call-ID (`sip.callIDFull`) reaches the call's record."""
from __future__ import annotations

import asyncio

from django_tenants.utils import schema_context
from livekit import api

from calls.models import Call
from testing.demo_tenants import SALON_NUMBER
from voiceworker.call_job import SipCall, greet
from voiceworker.call_state import CALLER_HUNG_UP
from voiceworker.entrypoint import entrypoint
from voiceworker.presence import CallerPresence
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import FakeJobContext, FakeParticipant
from voiceworker.tests.test_failure_paths import LIVEKIT_SECRET, ROOM, SIP_IDENTITY, logged, start_voice_call, until
from voiceworker.watchdog import FakeClock


def status_changes(room, status: str) -> None:
    room.emit("participant_attributes_changed", {"sip.callStatus": status}, room.remote_participants[SIP_IDENTITY])


def test_the_greeting_and_the_calls_clock_wait_for_the_answer(voice, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit, clock=FakeClock())
        voice_call.call.config = voice_call.call.config.model_copy(update={"greeting": "Thanks for calling Bella Salon!"})
        ringing = CallerPresence(room=voice_call.room, identity=SIP_IDENTITY, call_status="ringing")
        greeting = asyncio.ensure_future(greet(voice_call.session, voice_call.call, presence=ringing,
                                               watchdog=voice_call.watchdog))
        await asyncio.sleep(1.5)  # the phone rings
        heard_while_ringing = list(voice_call.tts.texts)
        watchdog_while_ringing = voice_call.watchdog.started
        status_changes(voice_call.room, "active")
        await asyncio.wait_for(greeting, 5)
        await until(lambda: voice_call.audio.finished_at)
        voice_call.hangs_up()
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call, heard_while_ringing, watchdog_while_ringing

    voice_call, heard_while_ringing, watchdog_while_ringing = asyncio.run(conversation())
    assert heard_while_ringing == [] and not watchdog_while_ringing
    assert voice_call.tts.texts == ["Thanks for calling Bella Salon!"]
    assert voice_call.watchdog.started
    recorded = logged(voice_call.call)
    # The call lasted from the answer to the hang-up; the 1.5 s it rang are not talk time.
    assert recorded.duration_seconds < 1.5
    assert voice_call.call.recorder.latency == []  # the greeting is no reply: no latency row is sent


def test_a_hangup_status_is_the_caller_gone(voice, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        status_changes(voice_call.room, "hangup")  # the leg may stay in the room a moment longer
        await until(lambda: voice_call.call.over)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    assert voice_call.call.caller_gone.is_set()
    assert fake_livekit.deleted_rooms == [ROOM]
    assert logged(voice_call.call).end_reason == CALLER_HUNG_UP


def test_a_caller_who_hangs_up_while_it_rings_is_not_greeted(voice, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit, clock=FakeClock())
        voice_call.call.config = voice_call.call.config.model_copy(update={"greeting": "Thanks for calling Bella Salon!"})
        ringing = CallerPresence(room=voice_call.room, identity=SIP_IDENTITY, call_status="ringing")
        ringing.attach(voice_call.call)
        greeting = asyncio.ensure_future(greet(voice_call.session, voice_call.call, presence=ringing,
                                               watchdog=voice_call.watchdog))
        await asyncio.sleep(0.2)
        status_changes(voice_call.room, "hangup")
        await asyncio.wait_for(greeting, 5)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    assert voice_call.tts.texts == [] and not voice_call.watchdog.started
    assert logged(voice_call.call).end_reason == CALLER_HUNG_UP


def test_the_carriers_call_id_is_kept_on_the_call(live_api, friday_noon, fake_livekit, spool_dir, settings):
    # The job runs on the real API; its session cannot start on the fake room, so the caller gets
    # the apology and the call is logged at once — with the carrier's Call-ID.
    settings.DEEPGRAM_API_KEY, settings.OPENAI_API_KEY, settings.CARTESIA_API_KEY = "dg", "oa", "ca"
    settings.OPENAI_BASE_URL = ""
    carrier_call_id = "a84b4c76e66710@pcscf-1.carrier.example.net"

    async def job():
        lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret=LIVEKIT_SECRET)
        ctx = FakeJobContext(room_name=ROOM, caller=FakeParticipant(SIP_IDENTITY, {
            "sip.trunkPhoneNumber": SALON_NUMBER, "sip.phoneNumber": CALLER_NUMBER, "sip.callID": "SCL_1",
            "sip.callIDFull": carrier_call_id, "sip.callStatus": "active"}), lkapi=lkapi)
        await asyncio.wait_for(entrypoint(ctx), 15)
        await ctx.run_shutdown()
        await lkapi.aclose()

    asyncio.run(job())
    with schema_context("salon"):
        call = Call.objects.get()
    assert (call.sip_call_id, call.sip_call_id_full) == ("SCL_1", carrier_call_id)
    assert call.status == Call.Status.ENDED


def test_it_reads_the_call_status_and_the_carriers_call_id_from_the_sip_attributes():
    sip_call = SipCall.from_attributes({"sip.trunkPhoneNumber": "+15550100001", "sip.callID": "SCL_abc",
                                        "sip.callIDFull": "abc@carrier", "sip.callStatus": "ringing"})
    assert (sip_call.sip_call_id_full, sip_call.call_status) == ("abc@carrier", "ringing")
