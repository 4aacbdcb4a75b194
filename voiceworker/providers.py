"""The speech and language providers of a call, built from the tenant's config (call start) and the
provider keys in settings.

Everything is a plugin object: a model *string* would send audio and text to LiveKit's hosted
inference instead. Turn detection and interruptions run on the local Silero VAD, so nothing here
depends on LiveKit Cloud (a self-hosted LiveKit server is enough).
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from livekit.agents import AgentSession, APIConnectOptions, vad
from livekit.agents.types import NOT_GIVEN
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.plugins import cartesia, deepgram, openai

from voiceworker.call_state import CallState

DEFAULT_STT_MODEL, DEFAULT_STT_LANGUAGE = "nova-3", "multi"
DEFAULT_LLM_MODEL = "gpt-4.1-mini"
DEFAULT_TTS_MODEL = "sonic-3"
# A booking often needs check_availability then create_booking in one turn, plus a retry.
MAX_TOOL_STEPS = 5

TURN_HANDLING: dict[str, Any] = {
    "turn_detection": "vad",
    "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
    "interruption": {"mode": "vad", "min_duration": 0.5},
}


def build_llm(config: dict[str, Any], *, timeout: Any = None) -> openai.LLM:
    """OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL (a local model server needs no
    real key, but the client insists on one)."""
    base_url = settings.OPENAI_BASE_URL or NOT_GIVEN
    api_key = settings.OPENAI_API_KEY or ("not-needed" if settings.OPENAI_BASE_URL else NOT_GIVEN)
    return openai.LLM(model=(config.get("llm") or {}).get("model") or DEFAULT_LLM_MODEL, base_url=base_url,
                      api_key=api_key, timeout=timeout)


def build_stt(config: dict[str, Any]) -> deepgram.STT:
    stt = config.get("stt") or {}
    return deepgram.STT(model=stt.get("model") or DEFAULT_STT_MODEL, language=stt.get("language") or DEFAULT_STT_LANGUAGE,
                        api_key=settings.DEEPGRAM_API_KEY or NOT_GIVEN)


def build_tts(config: dict[str, Any]) -> cartesia.TTS:
    voice = config.get("voice") or {}
    speed = voice.get("speed")
    return cartesia.TTS(
        model=voice.get("model") or DEFAULT_TTS_MODEL,
        voice=voice.get("voice_id") or settings.DEFAULT_VOICE_ID,
        # 1.0 is Cartesia's own default; sending it would only add a generation_config block.
        speed=float(speed) if speed and float(speed) != 1.0 else None,
        language=tts_language(config.get("language") or "en"),
        api_key=settings.CARTESIA_API_KEY or None,
    )


def tts_language(language: str) -> str:
    """Cartesia takes the primary language subtag ("en" for "en-US")."""
    return language.split("-")[0].lower() or "en"


def build_session(config: dict[str, Any], *, vad_model: vad.VAD | None, userdata: CallState) -> AgentSession[CallState]:
    return AgentSession[CallState](
        stt=build_stt(config),
        llm=build_llm(config),
        tts=build_tts(config),
        vad=vad_model,
        turn_handling=TURN_HANDLING,
        max_tool_steps=MAX_TOOL_STEPS,
        userdata=userdata,
    )


# The apology is said to a caller who is about to be hung up on: one quick retry, not a long silence.
APOLOGY_TTS_OPTIONS = APIConnectOptions(max_retry=1, retry_interval=0.2, timeout=5.0)


def build_apology_session(*, vad_model: vad.VAD | None) -> AgentSession:
    """For calls that never reach a tenant (unknown number, API down): just a voice, the default one."""
    return AgentSession(tts=build_tts({"language": "en"}), vad=vad_model, turn_handling={"turn_detection": "vad"},
                        conn_options=SessionConnectOptions(tts_conn_options=APOLOGY_TTS_OPTIONS))
