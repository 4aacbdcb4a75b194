"""The voice on the agent settings page: Cartesia's voices in the business's language to choose from
(cached), Play (the greeting spoken in that voice, cached by voice and text), and an id typed by hand
checked with Cartesia before it is saved. Against a local stand-in speaking Cartesia's REST API."""
import pytest
from django.core.cache import cache
from django_tenants.utils import schema_context

from backoffice.tests.cartesia_fake import API_KEY, FakeCartesia
from backoffice.tests.test_admin_agent_settings import form_data, settings_page
from tenants.agent.models import AgentSettings, EscalationHours


@pytest.fixture
def cartesia(settings):
    server = FakeCartesia()
    settings.CARTESIA_API_URL = server.url
    settings.CARTESIA_API_KEY = API_KEY
    cache.clear()
    yield server
    server.stop()
    cache.clear()


def current_form(client):
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        hours = [(row.weekday, f"{row.starts:%H:%M}", f"{row.ends:%H:%M}") for row in EscalationHours.objects.order_by("weekday", "starts")]
        return agent, hours


def test_it_offers_cartesias_voices_in_the_businesss_language(salon_admin, cartesia):
    page = salon_admin.get(settings_page(salon_admin))
    html = page.content.decode()

    assert page.status_code == 200
    # Every English voice, across the provider's pages; none in German or Spanish.
    for name in ("Anna (en)", "Ben (en)", "Dora (en)"):
        assert name in html
    assert "Clara" not in html and "Eva" not in html
    assert '<select name="voice_id"' in html
    assert "voice-play" in html and "backoffice/voice_picker.js" in html


def test_the_voice_list_is_cached(salon_admin, cartesia):
    salon_admin.get(settings_page(salon_admin))
    asked = cartesia.count("GET", "/voices?")
    salon_admin.get(settings_page(salon_admin))

    assert asked >= 2  # two pages of English voices
    assert cartesia.count("GET", "/voices?") == asked


def test_play_speaks_the_greeting_in_the_voice_and_caches_it(salon_admin, cartesia):
    first = salon_admin.get("/admin/try/voice-preview", {"voice_id": "voice-en-ben"})
    again = salon_admin.get("/admin/try/voice-preview", {"voice_id": "voice-en-ben"})
    other_text = salon_admin.get("/admin/try/voice-preview", {"voice_id": "voice-en-ben", "text": "Hi there!"})

    assert first.status_code == 200 and first["Content-Type"] == "audio/wav"
    assert first.content[:4] == b"RIFF" and len(first.content) > 10000
    assert again.content == first.content
    assert other_text.status_code == 200
    tts = [body for method, path, body in cartesia.requests if path == "/tts/bytes"]
    assert len(tts) == 2  # the repeat came from the cache; new text is synthesised
    with schema_context("salon"):
        assert tts[0]["transcript"] == AgentSettings.objects.get().greeting
    assert tts[0]["voice"] == {"mode": "id", "id": "voice-en-ben"} and tts[0]["model_id"] == "sonic-3"
    assert tts[1]["transcript"] == "Hi there!"


def test_play_says_so_when_cartesia_cannot_speak(salon_admin, cartesia):
    cartesia.down = True
    response = salon_admin.get("/admin/try/voice-preview", {"voice_id": "voice-en-ben", "text": "Down?"})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "voice_unavailable"
    assert "503" in response.json()["error"]["message"]


def test_a_voice_chosen_from_the_list_is_saved(salon_admin, cartesia):
    agent, hours = current_form(salon_admin)
    response = salon_admin.post(settings_page(salon_admin), form_data(agent, hours, voice_id="voice-en-dora"))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    with schema_context("salon"):
        assert AgentSettings.objects.get().voice_id == "voice-en-dora"


def test_an_id_typed_by_hand_is_checked_with_cartesia(salon_admin, cartesia):
    agent, hours = current_form(salon_admin)
    unknown = salon_admin.post(settings_page(salon_admin), form_data(agent, hours, voice_id="", voice_id_typed="no-such-voice"))
    known = salon_admin.post(settings_page(salon_admin), form_data(agent, hours, voice_id="", voice_id_typed="voice-de-clara"))

    assert unknown.status_code == 200
    assert "Cartesia has no voice with the id &#x27;no-such-voice&#x27;" in unknown.content.decode()
    assert known.status_code == 302
    with schema_context("salon"):
        assert AgentSettings.objects.get().voice_id == "voice-de-clara"


def test_a_new_voice_is_not_saved_unchecked_while_cartesia_is_down(salon_admin, cartesia):
    agent, hours = current_form(salon_admin)
    salon_admin.get(settings_page(salon_admin))  # the list is cached from before the outage
    cartesia.down = True
    response = salon_admin.post(settings_page(salon_admin), form_data(agent, hours, voice_id="", voice_id_typed="voice-en-anna"))

    assert response.status_code == 200
    assert "could not be checked with Cartesia" in response.content.decode()
    with schema_context("salon"):
        assert AgentSettings.objects.get().voice_id == agent.voice_id
