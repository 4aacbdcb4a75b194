"""The voice the owner picked is the voice callers hear: the worker's TTS (livekit's Cartesia plugin,
streaming over Cartesia's WebSocket protocol) speaks with the call config's voice id, language and
model, at the Cartesia the admin lists voices from — here a local stand-in."""
import array
import asyncio

from livekit.agents.utils import http_context

from backoffice.tests.cartesia_fake import API_KEY, FakeCartesia
from core.call_contract import CallConfig, VoiceConfig
from voiceworker.providers import build_tts

CONFIG = CallConfig(language="en-US", voice=VoiceConfig(voice_id="voice-en-ben"))


def loudest(frames) -> int:
    samples = array.array("h")
    for frame in frames:
        samples.frombytes(bytes(frame.data))
    return max((abs(sample) for sample in samples), default=0)


def test_the_worker_speaks_the_greeting_in_the_chosen_voice_over_cartesias_websocket(settings):
    cartesia = FakeCartesia()
    settings.CARTESIA_API_URL = cartesia.url
    settings.CARTESIA_API_KEY = API_KEY

    async def speak() -> list:
        # The HTTP session a job process would have.
        async with http_context.open():
            return await speak_in_job()

    async def speak_in_job() -> list:
        tts = build_tts(CONFIG)
        frames = []
        try:
            stream = tts.stream()
            stream.push_text("Thanks for calling Bella Hair Studio. How can I help?")
            stream.end_input()
            async for event in stream:
                frames.append(event.frame)
            await stream.aclose()
        finally:
            await tts.aclose()
        return frames

    try:
        frames = asyncio.run(speak())
    finally:
        cartesia.stop()

    assert loudest(frames) > 1000  # speech, not silence
    spoken = [packet for packet in cartesia.ws_messages if packet.get("transcript", "").strip()]
    assert spoken and all(packet["voice"] == {"mode": "id", "id": "voice-en-ben"} for packet in spoken)
    assert {packet["model_id"] for packet in spoken} == {"sonic-3"} and {packet["language"] for packet in spoken} == {"en"}
    assert "Bella Hair Studio" in "".join(packet["transcript"] for packet in spoken)
