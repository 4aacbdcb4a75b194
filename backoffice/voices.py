"""The voices an owner can pick from, and hearing one: Cartesia's REST API (`GET /voices`,
`GET /voices/{id}`, `POST /tts/bytes`), the provider the voice worker speaks with.

Both are cached: the voice list for an hour per language (it changes rarely, and the settings page
must not wait on Cartesia every time it opens), a preview for a week per voice, model, language and
text (the same greeting in the same voice is the same audio, and synthesis is billed per character).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache

from core.call_contract import VoiceConfig

# The model the agent speaks with (the contract's default): previews must sound like the calls.
VOICE_MODEL = VoiceConfig().model

# The API version these requests are written against (Cartesia requires the header).
CARTESIA_VERSION = "2025-04-16"
VOICES_CACHE_SECONDS = 3600
PREVIEW_CACHE_SECONDS = 7 * 24 * 3600
TIMEOUT_SECONDS = 10
MAX_PAGES = 10
PREVIEW_TEXT_MAX = 1000


class VoiceProviderError(Exception):
    """Cartesia could not be asked (not configured, unreachable, or it refused); the message says which."""


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    language: str
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.language})" if self.language else self.name


def voices_configured() -> bool:
    return bool(settings.CARTESIA_API_KEY)


def primary_language(language: str) -> str:
    """Cartesia tags voices with a bare language ("en", "de"); the tenant may say "en-US"."""
    return (language or "").split("-")[0].split("_")[0].strip().lower()


def _request(method: str, path: str, **kwargs) -> requests.Response:
    if not voices_configured():
        raise VoiceProviderError("Voices come from Cartesia: set CARTESIA_API_KEY.")
    headers = {"X-API-Key": settings.CARTESIA_API_KEY, "Cartesia-Version": CARTESIA_VERSION}
    try:
        response = requests.request(method, settings.CARTESIA_API_URL.rstrip("/") + path, headers=headers,
                                    timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as exc:
        raise VoiceProviderError(f"Cartesia could not be reached ({exc.__class__.__name__}).") from exc
    if response.status_code in (401, 403):
        raise VoiceProviderError("Cartesia refused the API key (CARTESIA_API_KEY).")
    return response


def _voice_of(data: dict) -> Voice:
    return Voice(id=str(data.get("id", "")), name=str(data.get("name") or data.get("id", "")),
                 language=str(data.get("language") or ""), description=str(data.get("description") or ""))


def voices_for_language(*, language: str) -> list[Voice]:
    """Cartesia's voices that speak `language`, by name. Raises VoiceProviderError."""
    language = primary_language(language)
    key = f"cartesia-voices:{language}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    voices: list[Voice] = []
    params: dict[str, str | int] = {"limit": 100}
    if language:
        params["language"] = language
    for _ in range(MAX_PAGES):
        response = _request("GET", "/voices", params=params)
        if response.status_code != 200:
            raise VoiceProviderError(f"Cartesia answered {response.status_code} to the voice list.")
        body = response.json()
        # The current API pages ({"data": [...], "has_more", "next_page"}); older ones returned a bare list.
        page = body if isinstance(body, list) else body.get("data") or []
        voices += [_voice_of(item) for item in page if isinstance(item, dict) and item.get("id")]
        if isinstance(body, list) or not body.get("has_more") or not page:
            break
        params["starting_after"] = body.get("next_page") or page[-1]["id"]
    # The filter again: a provider that ignores the parameter must not offer a voice in another language.
    voices = sorted((voice for voice in voices if not language or primary_language(voice.language) in ("", language)),
                    key=lambda voice: voice.name.lower())
    cache.set(key, voices, VOICES_CACHE_SECONDS)
    return voices


def voice_get(*, voice_id: str) -> Voice | None:
    """The voice with this id, None if Cartesia has none. Raises VoiceProviderError."""
    if not voice_id or len(voice_id) > 100 or "/" in voice_id:
        return None
    response = _request("GET", f"/voices/{voice_id}")
    if response.status_code in (400, 404, 422):
        return None
    if response.status_code != 200:
        raise VoiceProviderError(f"Cartesia answered {response.status_code} when asked about the voice.")
    return _voice_of(response.json())


def voice_preview(*, voice_id: str, text: str, language: str) -> bytes:
    """`text` spoken in the voice, as a WAV file. Raises VoiceProviderError."""
    text = text.strip()[:PREVIEW_TEXT_MAX]
    language = primary_language(language) or "en"
    digest = hashlib.sha256("\x1f".join((VOICE_MODEL, voice_id, language, text)).encode()).hexdigest()
    key = f"cartesia-preview:{digest}"
    audio = cache.get(key)
    if audio is not None:
        return audio
    response = _request("POST", "/tts/bytes", json={
        "model_id": VOICE_MODEL,
        "transcript": text,
        "voice": {"mode": "id", "id": voice_id},
        "language": language,
        "output_format": {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 24000},
    })
    if response.status_code != 200:
        raise VoiceProviderError(f"Cartesia could not speak with this voice (it answered {response.status_code}).")
    audio = response.content
    cache.set(key, audio, PREVIEW_CACHE_SECONDS)
    return audio
