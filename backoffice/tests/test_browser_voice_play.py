"""Picking a voice by ear, in a real Chromium: on the agent settings page the owner chooses a voice and
presses Play, and the page plays the greeting in it (synthesised through the local Cartesia stand-in)."""
from __future__ import annotations

import io
import wave

import pytest
from django.core.cache import cache

from backoffice.tests.browser import log_in, salon_url
from backoffice.tests.cartesia_fake import API_KEY, FakeCartesia
from backoffice.tests.factories import SALON_OWNER

pytestmark = pytest.mark.browser


@pytest.fixture
def cartesia(settings):
    server = FakeCartesia()
    settings.CARTESIA_API_URL = server.url
    settings.CARTESIA_API_KEY = API_KEY
    cache.clear()
    yield server
    server.stop()
    cache.clear()


def test_play_in_the_browser_plays_the_greeting_in_the_chosen_voice(api_server, committed_db, page, cartesia):
    base = salon_url(api_server)
    log_in(page, base, *SALON_OWNER)
    page.wait_for_selector("text=How your phone line is doing")
    page.goto(f"{base}/admin/agent/agentsettings/")
    page.select_option("select#id_voice_id", "voice-en-anna")
    page.fill("#id_greeting", "Welcome to Bella Hair Studio, this is Anna.")

    page.click('[data-testid="voice-play"]')

    # The audio element plays: it has a length and its clock moves.
    page.wait_for_function("""() => {
        const audio = document.querySelector('[data-testid="voice-audio"]');
        return audio && !audio.paused && audio.duration > 1 && audio.currentTime > 0.2;
    }""")
    assert page.text_content("#soniq-voice-status") == "Playing."
    # What it played is the typed greeting in that voice, and the sound is not silence.
    (method, path, body) = next(request for request in cartesia.requests if request[1] == "/tts/bytes")
    assert body["transcript"] == "Welcome to Bella Hair Studio, this is Anna."
    assert body["voice"]["id"] == "voice-en-anna"
    source = page.evaluate("document.querySelector('[data-testid=\"voice-audio\"]').src")
    assert source.startswith("blob:")
    # The same URL the page fetched (served from the cache now), with the page's session; Playwright's
    # own resolver does not know *.localhost, so it goes to 127.0.0.1 with the tenant's Host.
    cookies = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in page.context.cookies())
    audio = page.request.get(f"{api_server.url}/admin/try/voice-preview?voice_id=voice-en-anna&"
                             "text=Welcome+to+Bella+Hair+Studio%2C+this+is+Anna.",
                             headers={"Host": base.removeprefix("http://"), "Cookie": cookies}).body()
    assert len([request for request in cartesia.requests if request[1] == "/tts/bytes"]) == 1
    with wave.open(io.BytesIO(audio)) as wav:
        frames = wav.readframes(wav.getnframes())
    samples = memoryview(frames).cast("h")
    assert max(abs(sample) for sample in samples[:4800]) > 1000
