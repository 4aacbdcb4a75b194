"""A local stand-in for Cartesia's REST API, as backoffice/voices.py uses it: `GET /voices` (paged,
filtered by language), `GET /voices/{id}`, `POST /tts/bytes` (a WAV of a tone as long as the text
asks for). It insists on the API key and version headers, as Cartesia does, and records requests."""
from __future__ import annotations

import io
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


def tone_wav(*, seconds: float, sample_rate: int = 24000, frequency: float = 440.0) -> bytes:
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * n / sample_rate)))
                      for n in range(int(seconds * sample_rate)))
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
        self.down = False
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/voices", self._voices)
        app.router.add_get("/voices/{voice_id}", self._voice)
        app.router.add_post("/tts/bytes", self._tts)
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
        if request.headers.get("X-API-Key") != API_KEY or not request.headers.get("Cartesia-Version"):
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
        return web.Response(body=tone_wav(seconds=max(0.5, min(4.0, len(body["transcript"]) * 0.06))),
                            content_type="audio/wav")
