"""What a caller lives through when things go wrong: provider outages, transfers, hang-ups, retries
and silence. Each test drives the real session (the real openai.LLM against a local
OpenAI-compatible endpoint, the real livekit-api client against a local Twirp endpoint, the real
internal API) and checks three things: what the caller heard (the texts handed to TTS, in order),
that the room was deleted (the DeleteRoom the Twirp endpoint recorded), and how the call ended in
the log that reached the API."""
from __future__ import annotations

import asyncio
import json
import os
import time
import typing
from dataclasses import dataclass, field

from aiohttp import web
from django_tenants.utils import schema_context
from livekit import api, rtc
from livekit.agents import AgentSession

from bookings.models import Booking
from calls.models import Call, CallbackRequest
from core import languages
from core.call_contract import TOOL_NAMES, CallConfig, SttConfig, WarningsConfig
from testing.demo_tenants import SALON_NUMBER
from voiceworker import call_actions
from voiceworker.agent import SoniqAgent
from voiceworker.call_control import LiveKitCallControl
from voiceworker.call_job import build_call, build_watchdog, end_and_log
from voiceworker.call_logger import CallLogger
from voiceworker.call_state import CALLER_HUNG_UP, CallState
from voiceworker.entrypoint import entrypoint
from voiceworker.presence import CallerPresence
from voiceworker.providers import MAX_TOOL_STEPS, MULTI_ENDPOINTING_MS, build_llm, build_stt, stt_options
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import (
    FakeApi,
    FakeJobContext,
    FakeLiveKit,
    FakeParticipant,
    FakeRoom,
    PlayingAudioOutput,
    RecordingTTS,
)
from voiceworker.tests.helpers import free_starts
from voiceworker.watchdog import CallWatchdog, FakeClock

ROOM = "failure-room"
SIP_IDENTITY = "sip_+15555550123"
LIVEKIT_SECRET = "a-secret-long-enough-for-hs256-signing"


@dataclass
class VoiceCall:
    session: AgentSession
    call: CallState
    tts: RecordingTTS
    audio: PlayingAudioOutput
    lkapi: api.LiveKitAPI
    room: FakeRoom
    fake_livekit: FakeLiveKit
    watchdog: CallWatchdog | None = None
    caller_words: list[float] = field(default_factory=list)
    left_at: float | None = None

    @property
    def heard(self) -> str:
        """Everything handed to TTS, in order (the framework hands it over sentence by sentence)."""
        return " ".join(self.tts.texts)

    def says(self, text: str) -> None:
        """A caller's turn, as the end of their utterance would start it."""
        self.caller_words.append(time.time())
        self.session.generate_reply(user_input=text)

    def presses(self, keys: str) -> None:
        """Keys on the caller's phone, as the SIP bridge reports RFC 2833 DTMF to the room."""
        for key in keys:
            self.room.emit("sip_dtmf_received", rtc.SipDTMF(code=0, digit=key, participant=None))

    def hangs_up(self) -> None:
        self.left_at = time.time()
        self.room.leave(SIP_IDENTITY)

    def longest_silence(self) -> float:
        """The longest stretch the caller, still on the line, heard nothing: from their last word
        or the end of the agent's audio to the next audio or the hang-up. A stretch the caller
        ended (they spoke, or left) was theirs, not dead air; a ringing transfer plays a tone."""
        segments = list(zip(self.audio.started_at, self.audio.finished_at, strict=False))
        quiet_from = self.caller_words + [end for _, end in segments]
        heard = [("audio", start) for start, _ in segments] + [("hang-up", at) for at in self.fake_livekit.deleted_at[:1]]
        theirs = [("caller", at) for at in self.caller_words] + ([("left", self.left_at)] if self.left_at else [])
        longest = 0.0
        for began in quiet_from:
            after = sorted((at, kind) for kind, at in heard + theirs if at > began)
            if not after or after[0][1] in ("caller", "left"):
                continue
            ended = after[0][0]
            tone = sum(max(0.0, min(ended, answered) - max(began, asked))
                       for asked, answered in self.fake_livekit.ringing)
            longest = max(longest, ended - began - tone)
        return longest

    async def end(self, spool_dir, api_url: str) -> None:
        """The job's end (`end_and_log`), then the pieces are closed."""
        await end_and_log(self.call, watchdog=self.watchdog, call_logger=CallLogger(api_url=api_url, spool_dir=spool_dir))
        await self.session.aclose()
        await self.call.api.aclose()
        await self.lkapi.aclose()


async def start_voice_call(*, fake_livekit, user_away_timeout: float | None = None, clock=None) -> VoiceCall:
    from django.conf import settings

    from voiceworker.api_client import SoniqApiClient

    client = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
    start = await client.start_call(called_number=SALON_NUMBER, caller_number=CALLER_NUMBER, room=ROOM,
                                    sip_call_id="sip-call-failure")
    lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret=LIVEKIT_SECRET)
    control = LiveKitCallControl(lkapi=lkapi, room_name=ROOM, participant_identity=SIP_IDENTITY)
    recording = RecordingTTS()
    session = AgentSession(llm=build_llm(start.config), tts=recording, vad=None, turn_handling={"turn_detection": None},
                           max_tool_steps=MAX_TOOL_STEPS, user_away_timeout=user_away_timeout)
    session, call = build_call(start, api=client, control=control, vad_model=None, session=session)
    call.filler_delay = 60.0
    audio = PlayingAudioOutput()
    session.output.audio = audio
    call_actions.ProviderFailures(session, call).attach()
    call_actions.UserAway(session, call).attach()
    room = FakeRoom(ROOM)
    room.remote_participants[SIP_IDENTITY] = FakeParticipant(SIP_IDENTITY, {})
    CallerPresence(room=room, identity=SIP_IDENTITY).attach(call)
    call_actions.Keypad(session, call, digit_timeout=0.3).attach(room)
    await session.start(SoniqAgent(instructions=start.config.instructions, tools_offered=start.config.tools),
                        record=False)
    watchdog = build_watchdog(session, call, clock=clock) if clock is not None else None
    return VoiceCall(session=session, call=call, tts=recording, audio=audio, lkapi=lkapi, room=room,
                     fake_livekit=fake_livekit, watchdog=watchdog)


def report_silence(scenario: str, seconds: float, note: str = "") -> None:
    """bench/silence.py collects these (SONIQ_SILENCE_REPORT names the file); tests time nothing."""
    if path := os.environ.get("SONIQ_SILENCE_REPORT"):
        with open(path, "a") as report:
            report.write(json.dumps({"scenario": scenario, "seconds": round(seconds, 3), "note": note}) + "\n")


def said(*texts: str) -> str:
    return " ".join(texts)


async def until(condition, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def logged(call: CallState) -> Call:
    with schema_context("salon"):
        return Call.objects.get(pk=call.call_id)


# 1. Provider outages -------------------------------------------------------------------------------

def test_an_llm_that_keeps_failing_gets_one_say_again_then_the_apology_and_the_hang_up(voice, fake_openai,
                                                                                          fake_livekit):
    # Each turn's request is retried once (`VOICE_LLM_ATTEMPTS`): two turns, four failed requests.
    fake_openai.steps = [{"status": 429}] * 4

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.says("Hi, I'd like a haircut.")
        await until(lambda: voice_call.heard == said(call_actions.SAY_AGAIN) and voice_call.audio.finished_at)
        voice_call.says("A haircut, please.")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('1. LLM answers 429 (twice)', voice_call.longest_silence(), '')
    assert voice_call.heard == said(call_actions.SAY_AGAIN, call_actions.FAILURE_APOLOGY)
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert recorded.end_reason.startswith("The agent failed: the language model (LLM) failed")
    assert recorded.status == Call.Status.ENDED


def test_a_single_failed_turn_is_asked_again_and_the_call_goes_on(voice, fake_openai, fake_livekit):
    # The model fails the turn (its retry too), then answers the caller's repeat. (A model that is
    # slow rather than failing: test_slow_model.py.)
    fake_openai.steps = [{"status": 500}, {"status": 500}, {"content": "Sure, what day would suit you?"}]

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.says("I'd like a haircut.")
        await until(lambda: voice_call.heard == said(call_actions.SAY_AGAIN) and voice_call.audio.finished_at)
        voice_call.says("I'd like a haircut.")
        await until(lambda: voice_call.heard.endswith("suit you?"))
        assert fake_livekit.deleted_rooms == []  # still on the line
        voice_call.hangs_up()
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('1. LLM fails one turn (500, retried)', voice_call.longest_silence(), '')
    assert voice_call.heard == said(call_actions.SAY_AGAIN, "Sure, what day would suit you?")
    assert fake_livekit.deleted_rooms == [ROOM]
    assert logged(voice_call.call).end_reason == CALLER_HUNG_UP


def test_a_failed_voice_hangs_up_at_once(voice, fake_openai, fake_livekit):
    fake_openai.steps = [{"content": "Sure, what day would suit you?"}]
    fake_livekit.delete_fails = True  # and LiveKit answers the hang-up with a 500: the job still ends

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.tts.fail = True
        voice_call.says("I'd like a haircut.")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('1. TTS fails', voice_call.longest_silence(), 'to the hang-up; DeleteRoom answered 500')
    # The reply was handed to the voice, which failed; nothing more was tried.
    assert voice_call.heard == said("Sure, what day would suit you?")
    assert fake_livekit.deleted_rooms == [ROOM]
    assert logged(voice_call.call).end_reason.startswith("The agent failed: the voice (TTS) failed")


def job_api(live_api_url: str, *, start_delay: float = 0.0) -> FakeApi:
    """A stand-in API whose call start answers after `start_delay` and which records logs."""
    async def start(request):
        await asyncio.sleep(start_delay)
        return web.json_response({"call_id": "7f000000-0000-4000-8000-000000000001", "call_token": "token",
                                  "config": {"language": "en", "instructions": "", "tools": [], "greeting": "Hi!"}},
                                 status=201)

    async def log(request):
        return web.json_response({"ok": True}, status=202)

    return FakeApi({"/internal/calls/start": start, "/internal/calls/{call_id}/log": log})


def logs_of(fake_api: FakeApi) -> list[dict]:
    return [body for path, _, body in fake_api.requests if path.endswith("/log")]


def test_a_session_that_cannot_start_after_call_start_hangs_up_and_logs_why(settings, fake_livekit, spool_dir):
    # Without a Cartesia key the session cannot be built (`build_call` raises after call start),
    # nor the apology's voice: the caller is hung up on at once, and the log says why.
    fake_api = job_api("")
    settings.SONIQ_API_URL = fake_api.url
    settings.DEEPGRAM_API_KEY, settings.OPENAI_API_KEY, settings.CARTESIA_API_KEY = "dg", "oa", ""
    settings.OPENAI_BASE_URL = ""

    async def job():
        lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret=LIVEKIT_SECRET)
        ctx = FakeJobContext(room_name=ROOM, caller=FakeParticipant(SIP_IDENTITY, {
            "sip.trunkPhoneNumber": SALON_NUMBER, "sip.phoneNumber": CALLER_NUMBER, "sip.callID": "SCL_1"}),
            lkapi=lkapi)
        joined = time.time()
        await asyncio.wait_for(entrypoint(ctx), 10)
        await ctx.run_shutdown()
        await lkapi.aclose()
        return joined

    try:
        joined = asyncio.run(job())
    finally:
        fake_api.stop()
    report_silence("1. Session cannot start after call start", fake_livekit.deleted_at[0] - joined,
                   "from the caller's join to the hang-up; no voice could be built")
    assert fake_livekit.deleted_rooms == [ROOM]
    (log,) = logs_of(fake_api)
    assert log["end_reason"].startswith("The agent failed to start")


# 2. Transfers ---------------------------------------------------------------------------------------

def test_while_a_transfer_rings_the_caller_hears_a_tone_and_no_new_reply(voice, fake_openai, fake_livekit):
    fake_openai.steps = [{"tool_calls": [("transfer_to_human", {"reason": "Wants the owner"})]},
                         {"tool_calls": [("transfer_to_human", {"reason": "Again"})]}]
    fake_livekit.transfer_seconds = 1.0

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.says("Can I speak to the owner?")
        await until(lambda: fake_livekit.transfers)
        requests_before = len(fake_openai.requests)
        voice_call.says("Hello? Is anyone there?")  # while it rings
        await until(lambda: fake_livekit.deleted_rooms)
        await asyncio.sleep(0.3)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call, requests_before

    voice_call, requests_before = asyncio.run(conversation())
    report_silence('2. Transfer rings 1 s, caller says hello', voice_call.longest_silence(), 'ringing excluded: dial tone')
    assert voice_call.heard == said("I'm transferring you to a colleague now, please hold the line.")
    assert len(fake_openai.requests) == requests_before  # no new LLM turn
    (transfer,) = fake_livekit.transfers  # no second transfer
    assert transfer["play_dialtone"] is True
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("transferred", "Wants the owner")


def test_an_ongoing_transfer_completes_when_the_caller_leg_leaves(voice, fake_openai, fake_livekit):
    fake_openai.steps = [{"tool_calls": [("transfer_to_human", {"reason": "Wants the owner"})]}]
    fake_livekit.transfer_outcome = "ongoing"

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        loop = asyncio.get_running_loop()
        # The REFER completes a moment after the server answered ONGOING: the SIP leg leaves.
        fake_livekit.on_transfer = lambda: loop.call_soon_threadsafe(
            loop.call_later, 0.3, voice_call.room.leave, SIP_IDENTITY)
        voice_call.says("Can I speak to the owner?")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('11. Transfer reported ONGOING', voice_call.longest_silence(), 'ringing excluded: dial tone')
    assert voice_call.heard == said("I'm transferring you to a colleague now, please hold the line.")
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("transferred", "Wants the owner")
    with schema_context("salon"):
        assert not CallbackRequest.objects.exists()  # not treated as a failed transfer


# 3. end_call without a goodbye in its own step -------------------------------------------------------

def test_end_call_in_a_later_step_still_says_goodbye(voice, fake_openai, fake_livekit):
    fake_openai.steps = [
        {"content": "Let me note that.", "tool_calls": [("log_note", {"note": "Asked about parking."})]},
        {"tool_calls": [("end_call", {"outcome": "answered", "reason": "Caller is done"})]},
    ]

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.says("Just wanted to say there's no parking sign. Bye.")
        await until(lambda: fake_livekit.deleted_rooms)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('3. end_call in a later step', voice_call.longest_silence(), '')
    # The goodbye of the API (or the worker's own), after what the model said in the first step.
    assert voice_call.heard.startswith("Let me note that. ")
    assert voice_call.heard.endswith("Goodbye!")
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("answered", "Caller is done")


# 4, 10. The time-limit goodbye: the hang-up comes first, after a grace for the tail -----------------

def test_the_time_limit_goodbye_hangs_up_before_the_api_records_it(voice, fake_livekit, saturday_morning):
    async def conversation():
        clock = FakeClock()
        voice_call = await start_voice_call(fake_livekit=fake_livekit, clock=clock)
        voice_call.call.config = voice_call.call.config.model_copy(
            update={"warnings": WarningsConfig(first_seconds=0, final_seconds=0)})
        voice_call.watchdog = build_watchdog(voice_call.session, voice_call.call, clock=clock)
        voice_call.watchdog.start()
        await clock.advance(600)
        await until(lambda: len(voice_call.call.recorder.tool_calls) == 2)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('4/10. Time-limit goodbye, then hang-up', voice_call.longest_silence(), 'includes the 0.5 s tail grace')
    goodbye = voice_call.heard
    assert goodbye.startswith("I'm sorry, we've reached the time limit for this call.")
    assert fake_livekit.deleted_rooms == [ROOM]
    end_call = voice_call.call.recorder.tool_calls[1]
    assert end_call["name"] == "end_call"
    # The room was deleted before the end_call request went out, and no sooner than the grace
    # after the goodbye finished playing.
    assert fake_livekit.deleted_at[0] <= voice_call.call.recorder.started_at + end_call["offset_seconds"] + 0.05
    assert fake_livekit.deleted_at[0] - voice_call.audio.finished_at[-1] >= voice_call.call.hang_up_grace - 0.05
    recorded = logged(voice_call.call)
    assert recorded.end_reason == "The call reached its maximum length."


# 5. A caller who hangs up during call start ------------------------------------------------------------

def test_a_caller_who_hangs_up_during_call_start_ends_the_job_at_once(settings, fake_livekit, spool_dir):
    fake_api = job_api("", start_delay=1.5)  # a slow API
    settings.SONIQ_API_URL = fake_api.url

    async def job():
        lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret=LIVEKIT_SECRET)
        ctx = FakeJobContext(room_name=ROOM, caller=FakeParticipant(SIP_IDENTITY, {
            "sip.trunkPhoneNumber": SALON_NUMBER, "sip.phoneNumber": CALLER_NUMBER, "sip.callID": "SCL_1"}),
            lkapi=lkapi)
        running = asyncio.create_task(entrypoint(ctx))
        await asyncio.sleep(0.2)
        left_at = time.time()
        ctx.room.leave(SIP_IDENTITY)
        await asyncio.wait_for(running, 5)
        await ctx.run_shutdown()
        await lkapi.aclose()
        return ctx, left_at

    try:
        ctx, left_at = asyncio.run(job())
    finally:
        fake_api.stop()
    report_silence("5. Caller hangs up during call start", ctx.shutdown_at - left_at,
                   "not a silence: from their leaving to the job's end")
    assert ctx.shutdown_at - left_at < 2.0
    assert fake_livekit.deleted_rooms == [ROOM]
    (log,) = logs_of(fake_api)
    assert log["end_reason"] == CALLER_HUNG_UP
    assert log["duration_seconds"] < 1.0  # the time they were there, not the job's
    assert log["transcript"] == []  # no greeting queued for nobody


# 6. The watchdog stops with the caller ---------------------------------------------------------------

def test_the_watchdog_stops_the_moment_the_caller_leaves(voice, fake_livekit):
    async def conversation():
        clock = FakeClock()
        voice_call = await start_voice_call(fake_livekit=fake_livekit, clock=clock)
        voice_call.watchdog.start()
        await clock.advance(100)
        voice_call.hangs_up()
        await clock.advance(600)  # well past the limit
        await asyncio.sleep(0.2)
        fired = list(voice_call.watchdog.fired)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call, fired

    voice_call, fired = asyncio.run(conversation())
    report_silence('6. Caller leaves; watchdog', voice_call.longest_silence(), 'no audio at all after they left')
    assert fired == []
    assert voice_call.heard == said()
    assert fake_livekit.transfers == []  # nobody transferred who has gone
    assert fake_livekit.deleted_rooms == [ROOM]
    assert logged(voice_call.call).end_reason == CALLER_HUNG_UP


# 7. The apology path hangs up even when the apology cannot be built ----------------------------------

def test_an_unknown_number_is_hung_up_even_when_the_apology_voice_cannot_be_built(settings, fake_livekit):
    async def unknown(request):
        return web.json_response({"ok": False, "error": {"code": "unknown_number", "message": "No."}}, status=404)

    fake_api = FakeApi({"/internal/calls/start": unknown})
    settings.SONIQ_API_URL = fake_api.url
    settings.CARTESIA_API_KEY = ""  # the apology's voice cannot be built

    async def job():
        lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret=LIVEKIT_SECRET)
        ctx = FakeJobContext(room_name=ROOM, caller=FakeParticipant(SIP_IDENTITY, {
            "sip.trunkPhoneNumber": "+15550109999", "sip.phoneNumber": CALLER_NUMBER}), lkapi=lkapi)
        joined = time.time()
        await asyncio.wait_for(entrypoint(ctx), 10)
        await ctx.run_shutdown()
        await lkapi.aclose()
        return ctx, joined

    try:
        ctx, joined = asyncio.run(job())
    finally:
        fake_api.stop()
    report_silence("7. Unknown number, apology voice cannot be built", fake_livekit.deleted_at[0] - joined,
                   "from the caller's join to the hang-up")
    assert fake_livekit.deleted_rooms == [ROOM]
    assert ctx.shutdown_reasons == ["call refused"]
    assert logs_of(fake_api) == []  # no call row, nothing to log


# 8. Public livekit-agents APIs only -----------------------------------------------------------------

def test_the_agent_offers_its_tools_through_the_public_constructor():
    agent = SoniqAgent(instructions="x", tools_offered=["log_note", "end_call"])
    assert sorted(tool.id for tool in agent.tools) == ["end_call", "log_note"]
    assert len(SoniqAgent(instructions="x").tools) == len(TOOL_NAMES)  # every tool when the API names none


# 9. A retried create is replayed, not repeated ---------------------------------------------------------

def test_a_retried_booking_with_the_same_request_books_once(voice, fake_openai, fake_livekit):
    def book_free_slot(body):
        tool_output = next(message for message in reversed(body["messages"]) if message["role"] == "tool")
        start = free_starts(json.loads(tool_output["content"])["result"])[0]
        booking = {"service": "haircut", "start": start[:16], "customer_name": "Ana Lopez",
                   "customer_phone": CALLER_NUMBER, "confirmed": True}
        # The model's retry after a timeout: the same create, twice.
        return {"tool_calls": [("create_booking", booking), ("create_booking", booking)]}

    fake_openai.steps = [
        {"tool_calls": [("check_availability", {"service": "haircut", "date": "2026-12-08", "time": "10:00"})]},
        book_free_slot,
        {"content": "You're booked."},
    ]

    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit)
        voice_call.says("A haircut Monday at ten, Ana Lopez.")
        await until(lambda: voice_call.heard == said("You're booked."))
        voice_call.hangs_up()
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('9. Retried create_booking', voice_call.longest_silence(), '')
    creates = [tool_call for tool_call in voice_call.call.recorder.tool_calls if tool_call["name"] == "create_booking"]
    assert len(creates) == 2 and not any(tool_call["is_error"] for tool_call in creates)
    with schema_context("salon"):
        assert Booking.objects.count() == 1
    assert voice_call.heard == said("You're booked.")
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("booked", CALLER_HUNG_UP)


# 12. A silent, off-hook caller --------------------------------------------------------------------------

def test_a_silent_caller_is_asked_twice_then_the_call_ends(voice, fake_livekit):
    async def conversation():
        voice_call = await start_voice_call(fake_livekit=fake_livekit, user_away_timeout=0.3)
        await until(lambda: fake_livekit.deleted_rooms, seconds=10)
        await voice_call.end(voice["spool_dir"], voice["api_url"])
        return voice_call

    voice_call = asyncio.run(conversation())
    report_silence('12. Silent caller (user_away_timeout 0.3 s here)', voice_call.longest_silence(), "the gaps are the caller's turn: user_away_timeout (15 s in calls)")
    assert voice_call.heard == said(call_actions.STILL_THERE, call_actions.STILL_THERE, call_actions.NO_RESPONSE_GOODBYE)
    assert fake_livekit.deleted_rooms == [ROOM]
    recorded = logged(voice_call.call)
    assert (recorded.outcome, recorded.end_reason) == ("other", call_actions.NO_RESPONSE_REASON)


# 13. Languages ---------------------------------------------------------------------------------------------

def test_a_language_outside_multi_gets_the_monolingual_model():
    assert stt_options(CallConfig(language="pl-PL", stt=SttConfig(model="nova-3", language="multi"))) == {
        "model": "nova-3", "language": "pl"}


def test_multi_gets_the_endpointing_deepgram_recommends():
    assert stt_options(CallConfig(language="de", stt=SttConfig(model="nova-3", language="multi"))) == {
        "model": "nova-3", "language": "multi", "endpointing_ms": MULTI_ENDPOINTING_MS}
    assert MULTI_ENDPOINTING_MS == 100


def test_the_business_words_reach_deepgram_as_nova3_keyterms(settings):
    settings.DEEPGRAM_API_KEY = "dg"
    config = CallConfig(language="en", stt=SttConfig(model="nova-3", language="multi",
                                                     keyterms=("Bella Hair Studio", "Blow Dry")))
    stt = build_stt(config)
    # What the plugin sends as `keyterm` query parameters on the streaming connection.
    assert stt._opts.keyterm == ["Bella Hair Studio", "Blow Dry"]
    # A model without keyterm prompting gets none (the plugin would refuse it).
    assert "keyterm" not in stt_options(CallConfig(stt=SttConfig(model="nova-2", language="en", keyterms=("Bella",))))
    assert "keyterm" not in stt_options(CallConfig(stt=SttConfig(model="nova-3", language="multi")))


def test_the_supported_languages_are_ones_the_plugins_know():
    from livekit.plugins.cartesia.models import TTSLanguages
    from livekit.plugins.deepgram.models import DeepgramLanguages

    assert languages.CARTESIA == set(typing.get_args(TTSLanguages))
    assert languages.DEEPGRAM_MULTI <= {languages.primary_subtag(code) for code in typing.get_args(DeepgramLanguages)}
    assert "pl" in languages.SUPPORTED and "et" not in languages.SUPPORTED  # no Estonian voice
    assert languages.unsupported_language_message("pl-PL") is None
    assert "cannot be taken in 'xx'" in languages.unsupported_language_message("xx")


