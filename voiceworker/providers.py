"""The speech and language providers of a call, built from the tenant's config (call start) and the
provider keys in settings.

Everything is a plugin object: a model *string* would send audio and text to LiveKit's hosted
inference instead. Turn detection and interruptions run on the local Silero VAD, so nothing here
depends on LiveKit Cloud (a self-hosted LiveKit server is enough).
"""
from __future__ import annotations

from typing import Any

import httpx2 as httpx
from django.conf import settings
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, AgentSession, APIConnectOptions, llm, vad
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import cartesia, deepgram, openai

from core.call_contract import CallConfig
from core.languages import DEEPGRAM_MULTI, primary_subtag
from voiceworker.call_state import CallState

# A booking often needs check_availability then create_booking in one turn, plus a retry.
MAX_TOOL_STEPS = 5

TURN_HANDLING: dict[str, Any] = {
    "turn_detection": "vad",
    "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
    "interruption": {"mode": "vad", "min_duration": 0.5},
}


# A caller waits for every LLM request in silence. The framework's defaults (10 s timeout, three
# retries 2 s apart; httpx's 5 s read timeout) add up to 6-30 s of dead air when the provider
# answers 429 or hangs. One attempt with a short first-byte timeout instead: a failed turn is
# answered "Sorry, could you say that again?" (`call_actions.ProviderFailures`), and the caller's
# repeat is the retry.
LLM_TIMEOUT = httpx.Timeout(connect=1.5, read=1.5, write=1.5, pool=1.5)
LLM_CONN_OPTIONS = APIConnectOptions(max_retry=0, timeout=1.5)
# Deepgram's recommendation for `multi` (code-switching): endpointing at 100 ms; the plugin's
# default, 25 ms, cuts a multilingual utterance into fragments.
MULTI_ENDPOINTING_MS = 100


class CallLLM(openai.LLM):
    """openai.LLM with the call's bounded connection options on every request (`chat`'s public
    `conn_options`), whatever the session passes."""

    def chat(self, *, chat_ctx: llm.ChatContext, tools: Any = None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             **kwargs: Any) -> llm.LLMStream:
        return super().chat(chat_ctx=chat_ctx, tools=tools, conn_options=LLM_CONN_OPTIONS, **kwargs)


def build_llm(config: CallConfig, *, timeout: Any = None) -> openai.LLM:
    """OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL (a local model server needs no
    real key, but the client insists on one)."""
    base_url = settings.OPENAI_BASE_URL or NOT_GIVEN
    api_key = settings.OPENAI_API_KEY or ("not-needed" if settings.OPENAI_BASE_URL else NOT_GIVEN)
    return CallLLM(model=config.llm.model, base_url=base_url,
                   api_key=api_key, timeout=timeout or LLM_TIMEOUT)


def stt_options(config: CallConfig) -> dict[str, Any]:
    """Nova-3 `multi` (with Deepgram's endpointing for it) when it covers the tenant's language;
    otherwise Nova-3's monolingual model for that language (`multi` would transcribe a Polish
    caller as whichever of its ten languages sounds closest)."""
    model, language = config.stt.model, config.stt.language
    tenant_language = primary_subtag(config.language)
    if language == "multi" and tenant_language not in DEEPGRAM_MULTI:
        return {"model": model, "language": tenant_language}
    if language == "multi":
        return {"model": model, "language": "multi", "endpointing_ms": MULTI_ENDPOINTING_MS}
    return {"model": model, "language": language}


def build_stt(config: CallConfig) -> deepgram.STT:
    return deepgram.STT(**stt_options(config), api_key=settings.DEEPGRAM_API_KEY or NOT_GIVEN,
                        base_url=settings.DEEPGRAM_BASE_URL)


def build_tts(config: CallConfig) -> cartesia.TTS:
    voice = config.voice
    return cartesia.TTS(
        model=voice.model,
        # An empty voice is the platform's default one (the apology session has no tenant).
        voice=voice.voice_id or settings.DEFAULT_VOICE_ID,
        # 1.0 is Cartesia's own default; sending it would only add a generation_config block.
        speed=voice.speed if voice.speed != 1.0 else None,
        language=tts_language(config.language),
        api_key=settings.CARTESIA_API_KEY or None,
        # The same Cartesia the admin lists voices and plays previews from (one setting for both).
        base_url=settings.CARTESIA_API_URL,
    )


def tts_language(language: str) -> str:
    """Cartesia takes the primary language subtag ("en" for "en-US")."""
    return language.split("-")[0].lower() or "en"


def build_session(config: CallConfig, *, vad_model: vad.VAD | None, userdata: CallState) -> AgentSession[CallState]:
    return AgentSession[CallState](
        stt=build_stt(config),
        llm=build_llm(config),
        tts=build_tts(config),
        vad=vad_model,
        turn_handling=TURN_HANDLING,
        max_tool_steps=MAX_TOOL_STEPS,
        userdata=userdata,
    )


def build_apology_session(*, vad_model: vad.VAD | None) -> AgentSession:
    """For calls that never reach a tenant (unknown number, API down, a session that failed to
    start): just a voice, the default one. The caller bounds how long it may take."""
    return AgentSession(tts=build_tts(CallConfig()), vad=vad_model, turn_handling={"turn_detection": "vad"})
