"""Local stand-ins for the providers we cannot reach from this machine, speaking their real wire protocols,
so the production worker runs unchanged with only base URLs pointed here:

- **Deepgram** live transcription (`wss://…/v1/listen`): takes the linear16 audio the plugin streams,
  finds each utterance in it by energy (a caller's line through the SIP bridge is far above its silence),
  and answers each with the next line of a script as a final `Results` message (`speech_final`), after
  `endpoint_seconds` of silence — the stand-in's endpointing delay.
- **OpenAI** chat completions (`POST /v1/chat/completions`, server-sent events, `GET /v1/models`): a rule
  per turn (`Turns`) decides the reply or the tool calls, after `first_token_seconds`.
- **Cartesia** TTS (`wss://…/tts/websocket` with context ids and base64 `chunk`s, and `POST /tts/bytes`):
  real speech from espeak-ng at the sample rate asked for, after `first_audio_seconds`.

One `ProviderStandIns` serves all three from one aiohttp app on a thread; `.settings()` is the worker's
environment. Every delay is configured, so a figure can subtract them (bench/real_call.py).
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from aiohttp import WSMsgType, web

from devstack.audio import FRAME_SECONDS, frame_levels, speak

# --- the model's turns ----------------------------------------------------------------------------

Step = dict[str, Any]  # {"content": str} and/or {"tool_calls": [(name, arguments)]}
Rule = Callable[[list[dict[str, Any]]], Step | None]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def last_tool_result(messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, parsed output) when the newest message answers a tool call; else None."""
    if not messages or messages[-1].get("role") != "tool":
        return None
    call_id = messages[-1].get("tool_call_id")
    name = ""
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                name = call["function"]["name"]
    content = messages[-1].get("content") or ""
    try:
        parsed = json.loads(content)
    except (TypeError, ValueError):
        parsed = {"error": content}
    return name, parsed if isinstance(parsed, dict) else {"value": parsed}


def caller_number(messages: list[dict[str, Any]]) -> str:
    """The caller's number as the call's instructions state it."""
    for message in messages:
        if message.get("role") in ("system", "developer"):
            found = re.search(r"\+\d{8,15}", str(message.get("content")))
            if found:
                return found.group(0)
    return ""


@dataclass
class ReceptionistTurns:
    """A model that books, transfers and says goodbye, decided from the conversation so far, so many
    calls can share it: a caller who names the service gets the first free time the API offers from
    `date` on, booked in `customer_name` on the number the call's instructions give (or `customer_phone`,
    the number a caller without one says, as on a test call from the browser); "person" asks for a
    transfer; "bye" ends the call; after a transfer that came back asking for a message, the caller's
    next words are saved with log_note."""

    service: str = "haircut"
    date: str = "tomorrow"
    customer_name: str = "Maria Lopez"
    customer_phone: str = ""
    goodbye_outcome: str = "booked"

    def __call__(self, messages: list[dict[str, Any]]) -> Step:
        # The worker's own sentences said inside a tool (a transfer's announcement, "that line is
        # busy") reach the model after the tool's output: the answer is still the tool's.
        answered = list(messages)
        while answered and answered[-1].get("role") == "assistant" and not answered[-1].get("tool_calls"):
            answered.pop()
        tool = last_tool_result(answered) if answered and answered[-1].get("role") == "tool" else None
        if tool:
            name, output = tool
            result = output.get("result") or {}
            if name == "check_availability":
                # The API offers the next open day itself when the asked-for one has nothing free.
                start = next(iter(result.get("available_starts") or []), None)
                if start:
                    return {"tool_calls": [("create_booking", {
                        "service": self.service, "start": str(start)[:16], "customer_name": self.customer_name,
                        "customer_phone": caller_number(messages) or self.customer_phone, "notes": None,
                        "confirmed": True})]}
                return {"content": output.get("message") or "Sorry, there is nothing free."}
            if name == "create_booking":
                return {"content": output.get("message") or "You're booked. Anything else?"}
            if name == "transfer_to_human":
                return {"content": output.get("message") or "Okay."}
            return {"content": output.get("message") or output.get("error") or "Okay."}
        said = last_user_text(messages).lower()
        if self._asked_for_a_message(messages) and "bye" not in said:
            # The transfer came back and the business takes messages: the caller's words are it.
            return {"tool_calls": [("log_note", {"note": last_user_text(messages)})]}
        # A tool the conversation already used is not asked for again (the worker may prompt the model
        # again after a transfer fails, with the caller's last words still the newest).
        used = {call["function"]["name"] for message in messages for call in message.get("tool_calls") or []}
        if "bye" in said:
            return {"content": "Thank you for calling. Goodbye!",
                    "tool_calls": [("end_call", {"outcome": self.goodbye_outcome, "reason": "caller is done"})]}
        if ("person" in said or "someone" in said or "human" in said) and "transfer_to_human" not in used:
            return {"tool_calls": [("transfer_to_human", {"reason": "caller asked for a person",
                                                          "callback_number": None, "caller_name": None})]}
        if (self.service in said or "book" in said) and "create_booking" not in used:
            return {"tool_calls": [("check_availability", {"service": self.service, "date": self.date, "time": None})]}
        return {"content": "Is there anything else I can do for you?"}

    @staticmethod
    def _asked_for_a_message(messages: list[dict[str, Any]]) -> bool:
        """Whether the newest transfer_to_human answered "take a message" and no note was saved since."""
        names = {call.get("id"): call["function"]["name"] for message in messages
                 for call in message.get("tool_calls") or []}
        waiting = heard = False
        for message in messages:
            if message.get("role") == "user":
                heard = waiting
                continue
            if message.get("role") != "tool":
                continue
            name = names.get(message.get("tool_call_id"))
            if name == "log_note":
                waiting = heard = False
            elif name == "transfer_to_human":
                try:
                    output = json.loads(message.get("content") or "")
                except (TypeError, ValueError):
                    continue
                waiting = isinstance(output, dict) and (output.get("result") or {}).get("action") == "message"
                heard = False
        # The caller has spoken since they were asked for their message: those words are it.
        return waiting and heard


def openai_sse_events(step: Step, *, number: int, model: str) -> list[bytes]:
    """One chat completion streamed as OpenAI sends it: the role, the content, each tool call, the finish
    reason, the usage, `[DONE]` (also what the worker's offline tests serve: voiceworker/tests/fakes.py)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data)}\n\n".encode()

    events = [chunk({"role": "assistant", "content": ""})]
    if step.get("content"):
        events.append(chunk({"content": step["content"]}))
    for index, (name, arguments) in enumerate(step.get("tool_calls", [])):
        events.append(chunk({"tool_calls": [{"index": index, "id": f"call_{number}_{index}", "type": "function",
                                             "function": {"name": name, "arguments": json.dumps(arguments)}}]}))
    events.append(chunk({}, "tool_calls" if step.get("tool_calls") else "stop"))
    usage = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": 0, "model": model,
             "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
    events.append(f"data: {json.dumps(usage)}\n\n".encode())
    events.append(b"data: [DONE]\n\n")
    return events


# --- the server -----------------------------------------------------------------------------------

@dataclass
class ProviderStandIns:
    turns: Rule = field(default_factory=ReceptionistTurns)
    transcripts: list[str] = field(default_factory=list)  # what each utterance is heard as, in order
    first_token_seconds: float = 0.0
    first_audio_seconds: float = 0.0
    endpoint_seconds: float = 0.3
    speech_threshold_db: float = -42.0

    def __post_init__(self) -> None:
        self.chat_requests: list[dict[str, Any]] = []
        self.spoken: list[tuple[float, str]] = []  # (time.monotonic(), text) each synthesis started
        self.chat_times: list[float] = []  # time.monotonic() each chat request arrived
        self.synthesis: list[tuple[float, float]] = []  # (time.monotonic() it started, seconds espeak-ng took)
        self.heard: list[tuple[float, str]] = []  # (time.monotonic(), transcript) each final sent
        self.listen_queries: list[dict[str, list[str]]] = []  # each Deepgram connection's query parameters
        self.connections = itertools.count(1)
        app = web.Application()
        app.router.add_get("/v1/listen", self._deepgram)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/tts/websocket", self._cartesia_ws)
        app.router.add_post("/tts/bytes", self._cartesia_bytes)
        self._app = app
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the provider stand-ins did not start")

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._runner = web.AppRunner(self._app, access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        return {
            "DEEPGRAM_API_KEY": "standin", "DEEPGRAM_BASE_URL": f"{self.url}/v1/listen",
            "OPENAI_API_KEY": "standin", "OPENAI_BASE_URL": f"{self.url}/v1",
            "CARTESIA_API_KEY": "standin", "CARTESIA_API_URL": self.url,
        }

    # --- Deepgram -------------------------------------------------------------------------------

    async def _deepgram(self, request: web.Request) -> web.WebSocketResponse:
        self.listen_queries.append(parse_qs(request.query_string))
        query = {key: values[-1] for key, values in parse_qs(request.query_string).items()}
        rate = int(query.get("sample_rate", 16000))
        channels = int(query.get("channels", 1))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        script = iter(list(self.transcripts))
        frame_bytes = int(rate * FRAME_SECONDS) * 2 * channels
        pending, position = b"", 0.0
        speaking_since: float | None = None
        last_loud = 0.0
        request_id = str(uuid.uuid4())

        async def final(start: float, end: float) -> None:
            text = next(script, "")
            self.heard.append((time.monotonic(), text))
            words = [{"word": word.lower().strip(".,!?"), "punctuated_word": word, "start": start, "end": end,
                      "confidence": 0.99} for word in text.split()]
            await ws.send_str(json.dumps({
                "type": "Results", "channel_index": [0, 1], "duration": end - start, "start": start,
                "is_final": True, "speech_final": True, "from_finalize": False,
                "channel": {"alternatives": [{"transcript": text, "confidence": 0.99, "words": words}]},
                "metadata": {"request_id": request_id, "model_info": {"name": "standin"}},
            }))

        async for message in ws:
            if message.type == WSMsgType.BINARY:
                pending += message.data
                while len(pending) >= frame_bytes:
                    frame, pending = pending[:frame_bytes], pending[frame_bytes:]
                    samples = np.frombuffer(frame, dtype="<i2")
                    if channels > 1:
                        samples = samples.reshape(-1, channels)[:, 0]
                    loud = frame_levels(samples, rate)[0] > self.speech_threshold_db
                    position += FRAME_SECONDS
                    if loud:
                        last_loud = position
                        if speaking_since is None:
                            speaking_since = position
                            await ws.send_str(json.dumps({"type": "SpeechStarted", "channel": [0],
                                                          "timestamp": position}))
                    elif speaking_since is not None and position - last_loud >= self.endpoint_seconds:
                        if last_loud - speaking_since >= 0.2:  # a click is not an utterance
                            await final(speaking_since, last_loud)
                        speaking_since = None
            elif message.type == WSMsgType.TEXT:
                kind = json.loads(message.data).get("type")
                if kind == "Finalize" and speaking_since is not None:
                    await final(speaking_since, last_loud)
                    speaking_since = None
                elif kind == "CloseStream":
                    break
        await ws.close()
        return ws

    # --- OpenAI ---------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4.1-mini", "object": "model", "created": 0, "owned_by": "soniq-standin"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.chat_requests.append(body)
        self.chat_times.append(time.monotonic())
        step = self.turns(body.get("messages") or []) or {"content": "Okay."}
        if self.first_token_seconds:
            await asyncio.sleep(self.first_token_seconds)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for event in openai_sse_events(step, number=len(self.chat_requests), model=body.get("model", "")):
            await response.write(event)
        await response.write_eof()
        return response

    # --- Cartesia -------------------------------------------------------------------------------

    async def _speech(self, text: str, rate: int) -> bytes:
        """The text as speech, after the configured first-audio delay; records when the request came in
        (`spoken`) and how long espeak-ng took (`synthesis`, keyed by the request's arrival)."""
        received = time.monotonic()
        self.spoken.append((received, text))
        if self.first_audio_seconds:
            await asyncio.sleep(self.first_audio_seconds)
        if not text.strip():
            return b""
        started = time.monotonic()
        samples = await asyncio.get_running_loop().run_in_executor(None, lambda: speak(text, rate=rate))
        self.synthesis.append((received, time.monotonic() - started))
        return samples.astype("<i2").tobytes()

    async def _cartesia_bytes(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rate = int(body.get("output_format", {}).get("sample_rate", 24000))
        audio = await self._speech(body.get("transcript", ""), rate)
        return web.Response(body=audio, content_type="application/octet-stream")

    async def _cartesia_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            packet = json.loads(message.data)
            context_id = packet.get("context_id")
            if packet.get("cancel"):
                continue
            rate = int(packet.get("output_format", {}).get("sample_rate", 24000))
            text = packet.get("transcript", "")
            if text.strip():
                audio = await self._speech(text, rate)
                step = rate // 10 * 2  # 100 ms chunks, as the service streams them
                for offset in range(0, len(audio), step):
                    await ws.send_str(json.dumps({"type": "chunk", "context_id": context_id, "done": False,
                                                  "status_code": 206,
                                                  "data": base64.b64encode(audio[offset:offset + step]).decode()}))
            if not packet.get("continue", True):
                await ws.send_str(json.dumps({"type": "done", "context_id": context_id, "done": True,
                                              "status_code": 206}))
        await ws.close()
        return ws
