"""Stand-ins for the services the worker talks to, small enough to read: a scripted LLM, a local
OpenAI-compatible streaming endpoint, a local LiveKit Twirp endpoint and a configurable HTTP server.

Servers run in a thread with their own event loop, so they serve tests that run their own loop
(`asyncio.run`) and management commands that do, alike. Each binds port 0.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from livekit import rtc
from livekit.agents import APIStatusError, llm, stt, tts, vad
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice import io
from livekit.protocol import room as room_proto
from livekit.protocol import sip as sip_proto

from devstack.standins import openai_sse_events

# A step of a scripted conversation: what the model "says" in one response. `tool_calls` is a list of
# (name, arguments). FakeOpenAI also takes {"status": 429, "code": "insufficient_quota"} (an error
# answer) and {"hang": seconds} (a wait before answering). A callable step receives the chat context and returns a step, so a script can
# use what an earlier tool returned (a free start time, say).
Step = dict[str, Any] | Callable[[llm.ChatContext], dict[str, Any]]


class ThreadedServer:
    """An aiohttp application served from a background thread."""

    def __init__(self, app: web.Application):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(callback)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def free_port_url() -> str:
    """A URL where nothing listens (the API is down)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- a scripted LLM (no network at all) ---------------------------------------------------------

class ScriptedLLM(llm.LLM):
    """Answers each chat() with the next step of the script; after the script, "Okay."."""

    def __init__(self, steps: list[Step]):
        super().__init__()
        self.steps = list(steps)
        self.requests: list[tuple[llm.ChatContext, list]] = []
        self._call_ids = itertools.count(1)

    @property
    def model(self) -> str:
        return "scripted"

    def chat(self, *, chat_ctx: llm.ChatContext, tools: list | None = None,
             conn_options=DEFAULT_API_CONNECT_OPTIONS, **kwargs: Any) -> llm.LLMStream:
        self.requests.append((chat_ctx.copy(), list(tools or [])))
        step = self.steps.pop(0) if self.steps else {"content": "Okay."}
        if callable(step):
            step = step(chat_ctx)
        return _ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, step=step,
                               call_ids=self._call_ids)


class _ScriptedStream(llm.LLMStream):
    def __init__(self, scripted: ScriptedLLM, *, chat_ctx, tools, conn_options, step: dict[str, Any], call_ids):
        super().__init__(scripted, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._step = step
        self._call_ids = call_ids

    async def _run(self) -> None:
        if self._step.get("content"):
            self._event_ch.send_nowait(llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(
                role="assistant", content=self._step["content"])))
        calls = [llm.FunctionToolCall(name=name, arguments=json.dumps(arguments), call_id=f"call_{next(self._call_ids)}")
                 for name, arguments in self._step.get("tool_calls", [])]
        if calls:
            self._event_ch.send_nowait(llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(role="assistant",
                                                                                          tool_calls=calls)))


def last_tool_output(chat_ctx: llm.ChatContext) -> dict[str, Any]:
    """The JSON the latest tool returned to the model."""
    for item in reversed(chat_ctx.items):
        if item.type == "function_call_output":
            return json.loads(item.output)
    raise AssertionError("no tool output in the chat context")


# --- a local OpenAI-compatible endpoint ----------------------------------------------------------

class FakeOpenAI:
    """`GET /v1/models` and streaming `POST /v1/chat/completions` from a script of steps (see Step).
    Records every chat request body."""

    def __init__(self, steps: list[Step] | None = None):
        self.steps = list(steps or [])
        self.requests: list[dict[str, Any]] = []
        self.model_listings = 0
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self.server = ThreadedServer(app)
        self.base_url = f"{self.server.url}/v1"

    def stop(self) -> None:
        self.server.stop()

    async def _models(self, request: web.Request) -> web.Response:
        self.model_listings += 1
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4.1-mini", "object": "model", "created": 0, "owned_by": "soniq-tests"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        step = self.steps.pop(0) if self.steps else {"content": "Okay."}
        if callable(step):
            step = step(body)
        if step.get("hang"):
            # A provider that accepts the request and never answers (within the test's patience).
            await asyncio.sleep(step["hang"])
        if step.get("status"):
            # OpenAI's error shape, e.g. 429 insufficient_quota.
            code = step.get("code", "insufficient_quota")
            return web.json_response({"error": {"message": f"test error {code}", "type": code, "param": None,
                                                "code": code}}, status=step["status"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for event in openai_sse_events(step, number=len(self.requests), model=body.get("model", "")):
            await response.write(event)
        await response.write_eof()
        return response


# --- a local LiveKit server API (Twirp) -----------------------------------------------------------

class FakeLiveKit:
    """Decodes TransferSIPParticipant and DeleteRoom with livekit.protocol and records them.
    `transfer_outcome`: "success", "sip_error" (the callee was busy), "declined" (603), "rang_out" (the
    bridge's ringing timeout), "failed" (a FAILED status),
    "ongoing" (ONGOING with a transfer id) or "empty" (an older server's empty success).
    `transfer_seconds`: how long the transfer rings before the answer. `delete_fails`: DeleteRoom
    answers 500 (recorded all the same). `on_transfer`: called (in the server's thread) as it answers."""

    def __init__(self, transfer_outcome: str = "success"):
        self.transfer_outcome = transfer_outcome
        self.transfer_seconds = 0.0
        self.delete_fails = False
        self.on_transfer: Callable[[], None] | None = None
        self.transfers: list[dict[str, Any]] = []
        # (asked, answered) wall-clock times of each transfer: while it rings the caller hears a tone.
        self.ringing: list[tuple[float, float]] = []
        self.deleted_rooms: list[str] = []
        self.deleted_at: list[float] = []
        self.authorized: list[bool] = []
        app = web.Application()
        app.router.add_post("/twirp/livekit.SIP/TransferSIPParticipant", self._transfer)
        app.router.add_post("/twirp/livekit.RoomService/DeleteRoom", self._delete_room)
        self.server = ThreadedServer(app)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    async def _transfer(self, request: web.Request) -> web.Response:
        self.authorized.append(request.headers.get("Authorization", "").startswith("Bearer "))
        asked = time.time()
        message = sip_proto.TransferSIPParticipantRequest.FromString(await request.read())
        self.transfers.append({"room": message.room_name, "participant_identity": message.participant_identity,
                               "transfer_to": message.transfer_to, "play_dialtone": message.play_dialtone,
                               "ringing_timeout": message.ringing_timeout.seconds, "headers": dict(message.headers)})
        if self.transfer_seconds:
            await asyncio.sleep(self.transfer_seconds)
        self.ringing.append((asked, time.time()))
        if self.on_transfer is not None:
            self.on_transfer()
        if self.transfer_outcome == "empty":
            return web.Response(body=b"", content_type="application/protobuf")
        if self.transfer_outcome == "sip_error":
            return web.json_response({"code": "failed_precondition", "msg": "transfer failed",
                                      "meta": {"sip_status_code": "486", "sip_status": "Busy Here"}}, status=412)
        if self.transfer_outcome == "declined":
            return web.json_response({"code": "failed_precondition", "msg": "call transfer failed",
                                      "meta": {"sip_status_code": "603", "sip_status": "Decline"}}, status=412)
        if self.transfer_outcome == "status_lost":
            # The SIP bridge v1.8.0's race: it lost the carrier's 202 to its REFER and gave up at once.
            return web.json_response({"code": "canceled", "msg": "transaction failed to complete (0 intermediate "
                                                                 "responses)"}, status=408)
        if self.transfer_outcome == "rang_out":
            # What the server answers when the SIP bridge's ringing timeout cancelled the REFER's wait.
            return web.json_response({"code": "canceled", "msg": "refer canceled"}, status=499)
        status = {"success": sip_proto.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
                  "ongoing": sip_proto.SIPTransferStatus.STS_TRANSFER_ONGOING,
                  }.get(self.transfer_outcome, sip_proto.SIPTransferStatus.STS_TRANSFER_FAILED)
        reply = sip_proto.TransferSIPParticipantResponse(transfer_id="TR_test", status=status)
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    async def _delete_room(self, request: web.Request) -> web.Response:
        self.authorized.append(request.headers.get("Authorization", "").startswith("Bearer "))
        message = room_proto.DeleteRoomRequest.FromString(await request.read())
        self.deleted_rooms.append(message.room)
        self.deleted_at.append(time.time())
        if self.delete_fails:
            return web.json_response({"code": "internal", "msg": "boom"}, status=500)
        return web.Response(body=room_proto.DeleteRoomResponse().SerializeToString(), content_type="application/protobuf")


# --- a configurable stand-in for the internal API -------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeApi:
    """Routes POST paths to handlers written in the test; records (path, headers, body)."""

    def __init__(self, routes: dict[str, Handler]):
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_post(path, self._recording(handler))
        self.server = ThreadedServer(app)
        self.url = self.server.url

    def _recording(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            body = await request.json() if request.can_read_body else None
            self.requests.append((request.path, dict(request.headers), body))
            return await handler(request)
        return wrapped

    def stop(self) -> None:
        self.server.stop()


# --- what the caller hears: a TTS that records its text, and an audio sink that "plays" it -------

class RecordingTTS(tts.TTS):
    """Records every text it is handed (with the time), in order, and answers with silence as
    long as the text would take to say at `seconds_per_char`. `fail`: every synthesis fails
    as a provider outage would (after the framework's retries)."""

    def __init__(self, *, seconds_per_char: float = 0.002):
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=TTS_SAMPLE_RATE,
                         num_channels=1)
        self.seconds_per_char = seconds_per_char
        self.fail = False
        self.handed: list[tuple[float, str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.handed]

    def synthesize(self, text: str, *, conn_options=DEFAULT_API_CONNECT_OPTIONS) -> tts.ChunkedStream:
        self.handed.append((time.time(), text))
        return _RecordedSpeech(tts=self, input_text=text, conn_options=conn_options)


TTS_SAMPLE_RATE = 16000


class _RecordedSpeech(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        if self._tts.fail:
            raise APIStatusError("test: the voice provider is down", status_code=503, retryable=False)
        output_emitter.initialize(request_id="recorded", sample_rate=TTS_SAMPLE_RATE, num_channels=1,
                                  mime_type="audio/pcm")
        samples = max(int(len(self._input_text) * self._tts.seconds_per_char * TTS_SAMPLE_RATE), 160)
        output_emitter.push(b"\0\0" * samples)
        output_emitter.flush()


class PlayingAudioOutput(io.AudioOutput):
    """An audio sink that plays in real time: a segment finishes as long after its first frame as
    it lasts. Records when each segment finished (`finished_at`, wall clock)."""

    def __init__(self):
        super().__init__(label="test-sink", capabilities=io.AudioOutputCapabilities(pause=False),
                         sample_rate=TTS_SAMPLE_RATE)
        self._pushed = 0.0
        self._playing: asyncio.Task[None] | None = None
        self.started_at: list[float] = []
        self.finished_at: list[float] = []

    async def capture_frame(self, frame) -> None:
        await super().capture_frame(frame)
        if self._pushed == 0.0:
            self.started_at.append(time.time())
            self.on_playback_started(created_at=self.started_at[-1])
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        duration, self._pushed = self._pushed, 0.0

        async def play() -> None:
            await asyncio.sleep(duration)
            self.finished_at.append(time.time())
            self.on_playback_finished(playback_position=duration, interrupted=False)

        self._playing = asyncio.ensure_future(play())

    def clear_buffer(self) -> None:
        if self._playing is not None and not self._playing.done():
            self._playing.cancel()
            self.finished_at.append(time.time())
            self.on_playback_finished(playback_position=0.0, interrupted=True)
        self._pushed = 0.0


# --- a job context without a LiveKit server ------------------------------------------------------

class FakeParticipant:
    def __init__(self, identity: str, attributes: dict[str, str]):
        self.identity = identity
        self.attributes = attributes


class FakeRoom(rtc.EventEmitter):
    """The room as the entrypoint sees it before RoomIO: a name, who is in it, and the
    participant_disconnected event. `leave()` is the caller hanging up."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.remote_participants: dict[str, FakeParticipant] = {}

    def leave(self, identity: str) -> None:
        participant = self.remote_participants.pop(identity)
        self.emit("participant_disconnected", participant)


class FakeJobContext:
    """What `entrypoint` uses of a JobContext. The SIP caller is in the room from the start;
    `session.start(room=...)` fails on this room (it is no rtc.Room), as a session that cannot
    start would. `run_shutdown()` runs the shutdown callbacks as the job would."""

    def __init__(self, *, room_name: str, caller: FakeParticipant, lkapi: Any):
        self.room = FakeRoom(room_name)
        self.room.remote_participants[caller.identity] = caller
        self.caller = caller
        self.api = lkapi
        self.proc = type("Proc", (), {"userdata": {}})()
        self.job = type("Job", (), {"id": "job-test", "metadata": ""})()
        self.shutdown_reasons: list[str] = []
        self.shutdown_at: float | None = None
        self._callbacks: list[Callable[..., Any]] = []

    def is_fake_job(self) -> bool:
        return False

    async def wait_for_participant(self, *, kind: Any = None) -> FakeParticipant:
        return self.caller

    def add_shutdown_callback(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def shutdown(self, reason: str = "") -> None:
        if self.shutdown_at is None:
            self.shutdown_at = time.time()
        self.shutdown_reasons.append(reason)

    async def run_shutdown(self) -> None:
        import inspect

        reason = self.shutdown_reasons[0] if self.shutdown_reasons else ""
        for callback in self._callbacks:
            result = callback(reason) if inspect.signature(callback).parameters else callback()
            if inspect.isawaitable(result):
                await result


# --- a caller's line: silence at real-time pace, and a transcriber the test speaks through ---------

class LineAudioInput(io.AudioInput):
    """The caller's track: 20 ms frames of silence at real-time pace (what the words are, the
    test says through `ScriptedSTT`)."""

    def __init__(self, sample_rate: int = 16000):
        super().__init__(label="test-line")
        self.sample_rate = sample_rate

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(0.02)
        samples = self.sample_rate // 50
        return rtc.AudioFrame(b"\0\0" * samples, self.sample_rate, 1, samples)


class ScriptedSTT(stt.STT):
    """A streaming transcriber whose words come from the test: `speak("mm-hmm")` sends what Deepgram
    sends for an utterance (start of speech, an interim, the final transcript, end of speech)."""

    def __init__(self):
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))
        self._streams: list[_ScriptedRecognition] = []

    async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
        # The session only streams (STTCapabilities(streaming=True)); a one-shot recognition is a bug here.
        raise AssertionError("ScriptedSTT transcribes streams only")

    def stream(self, *, language=None, conn_options=DEFAULT_API_CONNECT_OPTIONS) -> stt.RecognizeStream:
        stream = _ScriptedRecognition(stt=self, conn_options=conn_options)
        self._streams.append(stream)
        return stream

    def speak(self, text: str, *, interim: str | None = None) -> None:
        def data(words: str) -> list[stt.SpeechData]:
            return [stt.SpeechData(language="en", text=words, confidence=0.99)]

        events = [stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH)]
        events.append(stt.SpeechEvent(type=stt.SpeechEventType.INTERIM_TRANSCRIPT, alternatives=data(interim or text)))
        events.append(stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=data(text)))
        events.append(stt.SpeechEvent(type=stt.SpeechEventType.END_OF_SPEECH))
        for event in events:
            self._streams[-1]._event_ch.send_nowait(event)


class _ScriptedRecognition(stt.RecognizeStream):
    async def _run(self) -> None:
        async for _frame in self._input_ch:
            pass


class ScriptedVAD(vad.VAD):
    """Voice activity as the test says it: `ScriptedLine.caller_says` sends what Silero would for an
    utterance of the caller's (start of speech, inference results while it lasts, end of speech)."""

    def __init__(self):
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.032))
        self.streams: list[_ScriptedVADStream] = []

    def stream(self) -> vad.VADStream:
        stream = _ScriptedVADStream(self)
        self.streams.append(stream)
        return stream

    def send(self, kind: vad.VADEventType, *, speech: float = 0.0, speaking: bool = True) -> None:
        self.streams[-1]._event_ch.send_nowait(vad.VADEvent(
            type=kind, samples_index=0, timestamp=time.time(), speech_duration=speech, silence_duration=0.0,
            speaking=speaking, raw_accumulated_speech=speech))


class _ScriptedVADStream(vad.VADStream):
    async def _main_task(self) -> None:
        async for _frame in self._input_ch:
            pass


class ScriptedLine:
    """The caller's side of a live line: their voice activity (VAD) and its transcripts (STT), in the
    order the two arrive for one utterance."""

    def __init__(self):
        self.vad = ScriptedVAD()
        self.stt = ScriptedSTT()

    async def caller_says(self, text: str, *, interim: str) -> None:
        def transcript(kind: stt.SpeechEventType, words: str) -> None:
            self.stt._streams[-1]._event_ch.send_nowait(stt.SpeechEvent(
                type=kind, alternatives=[stt.SpeechData(language="en", text=words, confidence=0.99)]))

        self.vad.send(vad.VADEventType.START_OF_SPEECH, speech=0.1)
        await asyncio.sleep(0.05)
        self.vad.send(vad.VADEventType.INFERENCE_DONE, speech=0.6)  # long enough to interrupt, if words came
        await asyncio.sleep(0.05)
        transcript(stt.SpeechEventType.INTERIM_TRANSCRIPT, interim)
        await asyncio.sleep(0.05)
        self.vad.send(vad.VADEventType.INFERENCE_DONE, speech=0.9)
        await asyncio.sleep(0.05)
        transcript(stt.SpeechEventType.FINAL_TRANSCRIPT, text)
        self.vad.send(vad.VADEventType.END_OF_SPEECH, speech=1.0, speaking=False)


class PausableAudioOutput(PlayingAudioOutput):
    """A sink that can pause, as the room's audio output can: records when the agent's voice was
    paused and resumed."""

    def __init__(self):
        super().__init__()
        self._capabilities = io.AudioOutputCapabilities(pause=True)
        self.paused: list[float] = []
        self.resumed: list[float] = []

    def pause(self) -> None:
        super().pause()
        self.paused.append(time.time())

    def resume(self) -> None:
        super().resume()
        self.resumed.append(time.time())
