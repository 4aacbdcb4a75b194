"""A local stand-in for Cartesia, as the admin (backoffice/voices.py) and the voice worker's TTS plugin
use it: REST `GET /voices` (paged, filtered by language), `GET /voices/{id}`, `POST /tts/bytes` (a
tone as long as the text asks for, as WAV or raw PCM) and the streaming `GET /tts/websocket` (audio
chunks per context, then `done`). It insists on the API key (and, over REST, the version header), as
Cartesia does, and records every request and WebSocket message."""
from __future__ import annotations

import base64
import io
import json
import math
import struct
import wave

from aiohttp import web

from voiceworker.tests.fakes import ThreadedServer

API_KEY = "test-cartesia-key"
VOICES = [
    {"id": "voice-en-anna", "name": "Anna", "language": "en", "description": "Warm and clear"},
    {"id": "voice-en-ben", "name": "Ben", "language": "en", "description": "Calm"},
    {"id": "voice-de-clara", "name": "Clara", "language": "de", "description": "Freundlich"},
    {"id": "voice-en-dora", "name": "Dora", "language": "en", "description": "Bright"},
    {"id": "voice-es-eva", "name": "Eva", "language": "es", "description": "Cercana"},
]
PAGE_SIZE = 2  # small, so the client has to follow the pages


def tone_pcm(*, seconds: float, sample_rate: int = 24000, frequency: float = 440.0) -> bytes:
    return b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * n / sample_rate)))
                    for n in range(int(seconds * sample_rate)))


def tone_wav(*, seconds: float, sample_rate: int = 24000, frequency: float = 440.0) -> bytes:
    frames = tone_pcm(seconds=seconds, sample_rate=sample_rate, frequency=frequency)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(frames)
    return buffer.getvalue()


class FakeCartesia:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.ws_messages: list[dict] = []
        self.down = False
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/voices", self._voices)
        app.router.add_get("/voices/{voice_id}", self._voice)
        app.router.add_post("/tts/bytes", self._tts)
        app.router.add_get("/tts/websocket", self._websocket)
        self.server = ThreadedServer(app)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def count(self, method: str, path_start: str) -> int:
        return sum(1 for m, path, _ in self.requests if m == method and path.startswith(path_start))

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        body = await request.json() if request.method == "POST" and request.can_read_body else {}
        self.requests.append((request.method, request.path_qs, body))
        if self.down:
            return web.json_response({"error": "overloaded"}, status=503)
        version = request.headers.get("Cartesia-Version") or request.query.get("cartesia_version")
        if request.headers.get("X-API-Key") != API_KEY or not version:
            return web.json_response({"error": "unauthorized"}, status=401)
        request["body"] = body
        return await handler(request)

    async def _voices(self, request: web.Request) -> web.Response:
        language = request.query.get("language")
        voices = [voice for voice in VOICES if not language or voice["language"] == language]
        after = request.query.get("starting_after")
        start = next((index + 1 for index, voice in enumerate(voices) if voice["id"] == after), 0)
        page = voices[start:start + PAGE_SIZE]
        has_more = start + PAGE_SIZE < len(voices)
        return web.json_response({"data": page, "has_more": has_more, "next_page": page[-1]["id"] if has_more else None})

    async def _voice(self, request: web.Request) -> web.Response:
        voice = next((voice for voice in VOICES if voice["id"] == request.match_info["voice_id"]), None)
        if voice is None:
            return web.json_response({"error": "voice not found"}, status=404)
        return web.json_response(voice)

    async def _tts(self, request: web.Request) -> web.Response:
        body = request["body"]
        voice_id = (body.get("voice") or {}).get("id")
        if body.get("model_id") != "sonic-3" or not body.get("transcript") or \
                not any(voice["id"] == voice_id for voice in VOICES):
            return web.json_response({"error": "bad request"}, status=400)
        # About as long as speech: 60 ms a character, at least half a second.
        seconds = max(0.5, min(4.0, len(body["transcript"]) * 0.06))
        if (body.get("output_format") or {}).get("container") == "raw":
            return web.Response(body=tone_pcm(seconds=seconds), content_type="application/octet-stream")
        return web.Response(body=tone_wav(seconds=seconds), content_type="audio/wav")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Cartesia's streaming TTS: each message adds text to a context (`continue: true`) or closes it;
        the answer is base64 audio chunks tagged with the context, then `done` once it is closed."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            packet = json.loads(message.data)
            self.ws_messages.append(packet)
            context = packet.get("context_id")
            voice_id = (packet.get("voice") or {}).get("id")
            if not any(voice["id"] == voice_id for voice in VOICES):
                await socket.send_str(json.dumps({"type": "error", "context_id": context, "done": True,
                                                  "error": f"voice {voice_id} not found"}))
                continue
            if packet.get("transcript", "").strip():
                audio = tone_pcm(seconds=max(0.2, min(2.0, len(packet["transcript"]) * 0.06)))
                for start in range(0, len(audio), 9600):
                    await socket.send_str(json.dumps({"type": "chunk", "context_id": context, "done": False,
                                                      "data": base64.b64encode(audio[start:start + 9600]).decode()}))
            if not packet.get("continue", False):
                await socket.send_str(json.dumps({"type": "done", "context_id": context, "done": True}))
        return socket
