"""The latency the caller felt (issue 21 item 10): per generated reply, livekit's end of the caller's
speech → the agent's first audio (`e2e_latency`) and the transcription delay go into the call log;
sentences the worker says itself (`session.say`: the greeting, "are you still there?") are no
replies. A call on a live line (audio in, a scripted transcriber, a voice that plays in real time)
sends its log to the real internal API, which stores it."""
from __future__ import annotations

import asyncio

import pytest
from django_tenants.utils import schema_context
from livekit.agents import AgentSession

from calls.models import Call
from testing.demo_tenants import SALON_NUMBER
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import SoniqApiClient
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_job import build_call, send_log
from voiceworker.call_logger import CallLogger
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import LineAudioInput, PlayingAudioOutput, RecordingTTS, ScriptedLLM, ScriptedSTT


@pytest.fixture
def celery_in_the_request():
    from core.celery_app import app as celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_each_reply_logs_the_wait_the_caller_felt_and_the_greeting_logs_none(live_api, friday_noon, spool_dir,
                                                                             celery_in_the_request):
    async def conversation():
        from django.conf import settings

        client = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
        start = await client.start_call(called_number=SALON_NUMBER, caller_number=CALLER_NUMBER, room="latency-room",
                                        sip_call_id="sip-latency")
        transcriber = ScriptedSTT()
        session = AgentSession(stt=transcriber, llm=ScriptedLLM([{"content": "Sure, which day?"}]),
                               tts=RecordingTTS(), vad=None, turn_handling={"turn_detection": "stt"},
                               aec_warmup_duration=None)
        session, call = build_call(start, api=client, control=LoggingCallControl(), vad_model=None, session=session)
        session.input.audio = LineAudioInput()
        session.output.audio = PlayingAudioOutput()
        await session.start(SoniqAgent(instructions=start.config.instructions, tools_offered=start.config.tools),
                            record=False)
        await session.say(start.config.greeting)
        transcriber.speak("I'd like a haircut.")
        for _ in range(500):
            if call.recorder.latency:
                break
            await asyncio.sleep(0.01)
        await session.aclose()
        call.settle(outcome="answered", end_reason="The caller hung up.")
        await send_log(call, call_logger=CallLogger(api_url=live_api.url, spool_dir=spool_dir))
        await client.aclose()
        return call

    call = asyncio.run(conversation())
    with schema_context("salon"):
        recorded = Call.objects.get(pk=call.call_id)
    (reply,) = recorded.metrics["latency"]  # the greeting is not a reply
    assert reply["turn"] == 2  # greeting, the caller, the reply
    assert reply["e2e_latency_ms"] is not None and reply["transcription_delay_ms"] is not None
    assert recorded.avg_e2e_latency_ms == reply["e2e_latency_ms"]
