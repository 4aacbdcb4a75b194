"""Call recordings on the worker's side, through the real internal API and the real recorder: a call
with the caller's audio coming in and the agent's synthesized speech going out ends with a stereo
Ogg/Opus file in the tenant's recording storage (caller left, agent right), as long as the call;
an upload that fails is spooled and arrives once the API is back, also after a worker restart."""
import asyncio
import io
import math
import time
import wave

import av
import numpy as np
import pytest
from aiohttp import web
from django_tenants.utils import schema_context
from livekit import rtc
from livekit.agents import AgentSession, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice import io as agent_io

from calls.models import Call, CallRecording
from tenants.agent.models import AgentSettings
from testing.demo_tenants import SALON_NUMBER
from voiceworker import recordings
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import SoniqApiClient
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_job import build_call, send_log
from voiceworker.call_logger import CallLogger
from voiceworker.recordings import RecordingUploader
from voiceworker.tests.audio import CALLER_SPEECH, CALLER_SPEECH_ENDS, CALLER_SPEECH_STARTS, wav_frames
from voiceworker.tests.conftest import CALLER_NUMBER
from voiceworker.tests.fakes import (
    TTS_SAMPLE_RATE,
    PlayingAudioOutput,
    RecordingTTS,
    ScriptedLLM,
    ThreadedServer,
    free_port_url,
)

GREETING_SECONDS = 1.0  # per sentence (a voice without streaming says a text sentence by sentence)
CARD = "4111 1111 1111 1111"


class _Tone(tts.ChunkedStream):
    async def _run(self, output_emitter) -> None:
        output_emitter.initialize(request_id="tone", sample_rate=TTS_SAMPLE_RATE, num_channels=1, mime_type="audio/pcm")
        count = int(self._tts.seconds * TTS_SAMPLE_RATE)
        tone = (np.sin(2 * math.pi * 440 * np.arange(count) / TTS_SAMPLE_RATE) * 0.3 * 32767).astype(np.int16)
        output_emitter.push(tone.tobytes())
        output_emitter.flush()


class ToneTTS(RecordingTTS):
    """A voice that says each text as a 440 Hz tone lasting `seconds` (energy only where the agent speaks)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def synthesize(self, text: str, *, conn_options=DEFAULT_API_CONNECT_OPTIONS) -> tts.ChunkedStream:
        self.handed.append((time.time(), text))
        return _Tone(tts=self, input_text=text, conn_options=conn_options)


class CallerLine(agent_io.AudioInput):
    """The caller's side of the line in real time: silence, then the WAV from `speak_at` (wall clock)."""

    def __init__(self):
        super().__init__(label="caller-line")
        self.speak_at: float | None = None
        self.spoke_at: float | None = None
        self._frames = list(wav_frames(CALLER_SPEECH))
        self._next = time.time()
        self._index = 0
        self.closed = False

    async def __anext__(self) -> rtc.AudioFrame:
        if self.closed:
            raise StopAsyncIteration
        await asyncio.sleep(max(self._next - time.time(), 0))
        self._next += 0.02
        if self.speak_at is not None and time.time() >= self.speak_at and self._index < len(self._frames):
            if self._index == 0:
                self.spoke_at = time.time()
            frame = self._frames[self._index]
            self._index += 1
            return frame
        return rtc.AudioFrame(b"\0\0" * 160, 8000, 1, 160)


class FakeJob:
    def __init__(self):
        self.callbacks = []

    def add_shutdown_callback(self, callback) -> None:
        self.callbacks.append(callback)

    async def run_shutdown(self) -> None:
        await asyncio.gather(*(callback("the caller hung up") for callback in self.callbacks))


@pytest.fixture
def recording_on(committed_db, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "stored")}}}
    with schema_context("salon"):
        AgentSettings.objects.update(record_calls=True)
    yield tmp_path / "stored"
    with schema_context("salon"):
        AgentSettings.objects.update(record_calls=False)


def channel_rms(path, *, start: float, end: float) -> tuple[float, float]:
    """(left, right) RMS of the stored file between two moments (seconds into it)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus" and stream.codec_context.channels == 2
        rate = stream.codec_context.sample_rate
        pcm = np.concatenate([frame.to_ndarray().reshape(2, -1) for frame in container.decode(stream)], axis=1)
    window = pcm[:, int(start * rate):int(end * rate)]
    return tuple(float(np.sqrt(np.mean(np.square(channel)))) for channel in window)


def file_seconds(path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


async def a_recorded_call(*, api_url: str, spool_dir, agent_says: str = "Sure, what day would suit you?",
                          uploader: RecordingUploader | None = None, log_api_url: str | None = None):
    """A call the caller speaks in (the WAV, CALLER_FEED_AT s in) and the agent answers (a tone), hung up after."""
    client = SoniqApiClient(base_url=api_url, internal_token="test-internal-token")
    start = await client.start_call(called_number=SALON_NUMBER, caller_number=CALLER_NUMBER, room="rec-room",
                                    sip_call_id="sip-rec")
    voice = ToneTTS(seconds=GREETING_SECONDS)
    session = AgentSession(llm=ScriptedLLM([]), tts=voice, vad=None, turn_handling={"turn_detection": None})
    session, call = build_call(start, api=client, control=LoggingCallControl(), vad_model=None, session=session)
    line = CallerLine()
    speaker = PlayingAudioOutput()
    session.input.audio = line
    session.output.audio = speaker
    await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
    job = FakeJob()
    uploader = uploader or RecordingUploader(api_url=api_url, spool_dir=spool_dir)
    await recordings.register(job, session, call, uploader=uploader)
    recording = call.recording
    began = recording.recorder.recording_started_at
    await session.say(start.config.greeting)  # one tone per sentence
    greeting_end = time.time() - began
    line.speak_at = time.time() + 0.3
    await asyncio.sleep(0.3 + CALLER_SPEECH_ENDS + 0.3)
    voice.seconds = 1.0
    agent_at = time.time() - began
    await session.say(agent_says)
    await asyncio.sleep(0.3)
    line.closed = True
    call.end()
    await session.aclose()
    await job.run_shutdown()
    await send_log(call, call_logger=CallLogger(api_url=log_api_url or api_url, spool_dir=spool_dir, send_timeout=2))
    await client.aclose()
    return start, call, {"greeting_end": greeting_end, "caller_at": line.spoke_at - began, "agent_at": agent_at}


def test_it_records_the_caller_on_the_left_and_the_agent_on_the_right(recording_on, live_api, spool_dir):
    start, call, at = asyncio.run(a_recorded_call(api_url=live_api.url, spool_dir=spool_dir))

    # The caller heard the disclosure first: it opens the greeting the agent says.
    assert start.config.recording.enabled
    assert start.config.recording.disclosure == "This call is recorded so we can serve you better."
    assert start.config.greeting.startswith("This call is recorded so we can serve you better. ")
    with schema_context("salon"):
        stored = CallRecording.objects.select_related("call").get(call_id=call.call_id)
        logged = Call.objects.get(pk=call.call_id)
        path = stored.audio.path
    assert path.startswith(str(recording_on))
    # The greeting: the agent's channel only.
    left, right = channel_rms(path, start=0.2, end=at["greeting_end"] - 0.2)
    assert right > 0.1 and left < 0.01
    # The caller's speech, where it came in: the caller's channel only.
    speech = (at["caller_at"] + CALLER_SPEECH_STARTS + 0.2, at["caller_at"] + CALLER_SPEECH_ENDS - 0.2)
    left, right = channel_rms(path, start=speech[0], end=speech[1])
    assert left > 0.02 and right < 0.01
    # The agent's answer after it.
    left, right = channel_rms(path, start=at["agent_at"] + 0.2, end=at["agent_at"] + 0.8)
    assert right > 0.1 and left < 0.01
    # As long as the call (within a second), and where it sits on the call's clock.
    assert abs(file_seconds(path) - float(logged.duration_seconds)) < 1.0
    assert abs(float(stored.duration_seconds) - float(logged.duration_seconds)) < 1.0
    assert 0 <= float(stored.started_offset_seconds) < 1.0
    assert stored.muted == []
    assert RecordingUploader(api_url=live_api.url, spool_dir=spool_dir).spooled() == []


def test_it_mutes_the_agent_reading_back_a_card_number(recording_on, live_api, spool_dir):
    # The log cannot be sent (its API is down): it waits in the spool, on the worker's disk.
    start, call, at = asyncio.run(a_recorded_call(
        api_url=live_api.url, spool_dir=spool_dir, agent_says=f"I have your card as {CARD}.",
        log_api_url=free_port_url()))
    agent_at = at["agent_at"]
    (spooled_log,) = CallLogger(api_url="", spool_dir=spool_dir).spooled()
    assert "4111 1111" not in spooled_log.read_text()
    assert "I have your card as [card number ending 1111]." in spooled_log.read_text()

    with schema_context("salon"):
        stored = CallRecording.objects.get(call_id=call.call_id)
        path = stored.audio.path
    ((channel, muted_from, muted_to),) = stored.muted
    assert channel == recordings.AGENT and muted_from <= agent_at and muted_to >= agent_at + 1.0
    left, right = channel_rms(path, start=agent_at + 0.1, end=agent_at + 0.9)
    assert right < 0.01
    # The greeting (no card number) is still there.
    assert channel_rms(path, start=0.2, end=at["greeting_end"] - 0.2)[1] > 0.1


def test_a_recording_the_api_cannot_take_is_spooled_and_arrives_after_a_restart(recording_on, live_api, spool_dir):
    down = free_port_url()
    start, call, _ = asyncio.run(a_recorded_call(
        api_url=live_api.url, spool_dir=spool_dir,
        uploader=RecordingUploader(api_url=down, spool_dir=spool_dir, send_timeout=2)))
    with schema_context("salon"):
        assert not CallRecording.objects.filter(call_id=call.call_id).exists()
    (spooled,) = RecordingUploader(api_url=down, spool_dir=spool_dir).spooled()
    assert (spooled / "audio.ogg").stat().st_size > 1000

    # Still down: kept. Then a new worker process (a new uploader on the same spool) once it is back.
    assert asyncio.run(RecordingUploader(api_url=down, spool_dir=spool_dir, send_timeout=2).resend_spooled()) == 0
    restarted = RecordingUploader(api_url=live_api.url, spool_dir=spool_dir)
    assert asyncio.run(restarted.resend_spooled()) == 1
    assert asyncio.run(restarted.resend_spooled()) == 0
    with schema_context("salon"):
        stored = CallRecording.objects.get(call_id=call.call_id)
        assert stored.size_bytes > 1000 and open(stored.audio.path, "rb").read(4) == b"OggS"
    assert restarted.spooled() == []


def test_storage_down_keeps_the_recording_spooled_until_it_returns(spool_dir):
    """The API answers 503 while its storage is down: the recording waits, then arrives once."""
    attempts: list[int] = []

    async def upload(request):
        await request.read()
        attempts.append(1)
        if len(attempts) == 1:
            return web.json_response({"ok": False, "error": {"code": "storage_unavailable", "message": "down"}},
                                     status=503)
        return web.json_response({"ok": True, "status": "stored"}, status=201)

    app = web.Application()
    app.router.add_post("/internal/calls/call-9/recording", upload)
    api = ThreadedServer(app)
    try:
        audio = spool_dir.parent / "call-9.ogg"
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as silent:
            silent.setnchannels(1), silent.setsampwidth(2), silent.setframerate(8000), silent.writeframes(b"\0\0" * 800)
        audio.write_bytes(b"OggS" + buffer.getvalue())
        uploader = RecordingUploader(api_url=api.url, spool_dir=spool_dir)
        entry = uploader.spool(call_id="call-9", call_token="tok", audio=audio, offset_seconds=0.1, muted=[])
        assert asyncio.run(uploader.deliver(entry=entry)) is False
        assert len(uploader.spooled()) == 1
        assert asyncio.run(uploader.resend_spooled()) == 1
    finally:
        api.stop()
    assert len(attempts) == 2 and uploader.spooled() == []


def test_a_recording_spooled_before_it_was_muted_leaves_the_worker_muted(spool_dir, tmp_path):
    """The job process ended before the card number was silenced (a long call, a kill): the worker
    that sends it from the spool mutes it first."""
    from calls.tests.recording_helpers import ogg_opus

    received: list[bytes] = []

    async def upload(request):
        received.append(await request.read())
        return web.json_response({"ok": True, "status": "stored"}, status=201)

    app = web.Application()
    app.router.add_post("/internal/calls/call-7/recording", upload)
    api = ThreadedServer(app)
    audio = tmp_path / "call-7.ogg"
    audio.write_bytes(ogg_opus(seconds=3.0))  # a tone on the caller's channel throughout
    try:
        RecordingUploader(api_url=api.url, spool_dir=spool_dir).spool(
            call_id="call-7", call_token="tok", audio=audio, offset_seconds=0.0, muted=[[0, 1.0, 2.0]])
        assert asyncio.run(RecordingUploader(api_url=api.url, spool_dir=spool_dir).resend_spooled()) == 1
    finally:
        api.stop()
    sent = tmp_path / "sent.ogg"
    sent.write_bytes(received[0])
    assert channel_rms(sent, start=1.1, end=1.9)[0] < 0.01
    assert channel_rms(sent, start=0.2, end=0.8)[0] > 0.1 and channel_rms(sent, start=2.2, end=2.8)[0] > 0.1
