"""The speech and language providers of a call, built from the tenant's config (call start) and the
provider keys and voice settings in settings.

Everything is a plugin object: a model *string* would send audio and text to LiveKit's hosted
inference instead. Turn detection runs locally: livekit's own end-of-turn model (`v1-mini`, its
weights ship in the `livekit-local-inference` wheel and the forkserver loads them once) where it
covers the tenant's language, the Silero VAD with a longer silence where it does not; interruptions
run on the VAD and the transcript. Nothing here depends on LiveKit Cloud.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import httpx2 as httpx
from django.conf import settings
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, AgentSession, APIConnectOptions, inference, llm, vad
from livekit.agents.inference.eot.languages import LOCAL_LANGUAGES
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import cartesia, deepgram, openai, silero
from openai import AsyncClient as OpenAIClient

from core.call_contract import CallConfig
from core.languages import DEEPGRAM_MULTI, primary_subtag
from voiceworker.call_state import CallState

# A booking often needs check_availability then create_booking in one turn, plus a retry.
MAX_TOOL_STEPS = 5

# What interrupts the agent: a word of a transcript (`min_words`: noise, a cough or a breath is
# VAD activity with no word, and no longer stops the agent; backchannels are dropped before they
# count, `SoniqAgent.stt_node`), and a pause that brings no words is a false interruption: the agent
# resumes (`resume_false_interruption`, where the audio output can pause).
INTERRUPTION_MIN_WORDS = 1


def load_vad() -> silero.VAD:
    """Silero, ending a stretch of speech after `VOICE_VAD_MIN_SILENCE` of silence (its default is
    0.55 s). The end-of-turn model is asked at that moment, so the sooner it comes the sooner a
    finished answer is answered: the model then waits out `min_delay` from the last speech, and its
    prediction has landed by then (bench/turn_taking.py). It needs at least 0.2 s
    (`inference.eot.base.MIN_SILENCE_DURATION_MS`)."""
    return silero.VAD.load(min_silence_duration=settings.VOICE_VAD_MIN_SILENCE)


def turn_handling(config: CallConfig) -> dict[str, Any]:
    """How the session decides the caller has finished, from the tenant's language and settings.

    `turn_detection="vad"` ends the turn after `min_delay` of silence, whatever the caller said: a
    caller pausing inside a phone number was answered early. The end-of-turn model listens to how the
    utterance ends and waits up to `max_delay` when it sounds unfinished. It covers the languages of
    `LOCAL_LANGUAGES` (its per-language thresholds); elsewhere a longer silence ends the turn."""
    language = primary_subtag(config.language)
    interruption = {"mode": "vad", "min_duration": 0.5, "min_words": INTERRUPTION_MIN_WORDS,
                    "resume_false_interruption": True,
                    "false_interruption_timeout": settings.VOICE_FALSE_INTERRUPTION_TIMEOUT}
    if settings.VOICE_TURN_DETECTOR == "v1-mini" and language in LOCAL_LANGUAGES:
        # Pinned: the default version resolves to the cloud model in dev mode.
        return {"turn_detection": inference.TurnDetector(version="v1-mini"),
                "endpointing": {"min_delay": settings.VOICE_ENDPOINTING_MIN_DELAY,
                                "max_delay": settings.VOICE_ENDPOINTING_MAX_DELAY},
                "interruption": interruption}
    silence = settings.VOICE_UNCOVERED_LANGUAGE_SILENCE
    return {"turn_detection": "vad", "endpointing": {"min_delay": silence, "max_delay": max(silence, 3.0)},
            "interruption": interruption}


# A caller waits for every LLM request. The framework's defaults (10 s timeout, three retries 2 s
# apart) add up to 6-30 s of dead air when the provider answers 429 or hangs. Instead each attempt
# has `VOICE_LLM_ATTEMPT_TIMEOUT` to answer, a failed attempt is retried once (or, with
# `VOICE_LLM_FALLBACK_MODEL`, sent to the fallback model), and the caller hears a filler after
# `VOICE_LLM_FILLER_SECONDS` of thinking (`SoniqAgent.llm_node`). Only then is the turn failed:
# "Sorry, could you say that again?" (`call_actions.ProviderFailures`).
LLM_RETRY_INTERVAL_SECONDS = 0.2
# Deepgram's recommendation for `multi` (code-switching): endpointing at 100 ms; the plugin's
# default, 25 ms, cuts a multilingual utterance into fragments.
MULTI_ENDPOINTING_MS = 100


def llm_attempt_options(*, retries: int) -> APIConnectOptions:
    return APIConnectOptions(max_retry=retries, timeout=settings.VOICE_LLM_ATTEMPT_TIMEOUT,
                             retry_interval=LLM_RETRY_INTERVAL_SECONDS)


# The TLS context of every call's model client, built once (when the forkserver imports this module,
# so each job process inherits it). An httpx client otherwise builds its own from the CA bundle:
# ~19 ms of CPU on the call's event loop as its session is built (778 ms of stall seen on a loaded
# machine; docs/BENCHMARKS.md, "Levers tried").
MODEL_CLIENT_TLS = httpx.create_ssl_context()


class CallLLM(openai.LLM):
    """openai.LLM with the call's bounded connection options on every request (`chat`'s public
    `conn_options`), whatever the session passes, over a client that shares `MODEL_CLIENT_TLS`."""

    def __init__(self, *, attempt_options: APIConnectOptions, api_key: Any, base_url: Any, timeout: httpx.Timeout,
                 **kwargs: Any):
        # As the plugin builds its own client (no SDK retries: the session's attempts are the retries).
        self.model_client = OpenAIClient(
            api_key=api_key if api_key is not NOT_GIVEN else None,
            base_url=base_url if base_url is not NOT_GIVEN else None, max_retries=0,
            http_client=httpx.AsyncClient(verify=MODEL_CLIENT_TLS, timeout=timeout, follow_redirects=True,
                                          limits=httpx.Limits(max_connections=50, max_keepalive_connections=50,
                                                              keepalive_expiry=120)))
        super().__init__(client=self.model_client, **kwargs)
        self.attempt_options = attempt_options

    async def aclose(self) -> None:
        await super().aclose()
        await self.model_client.close()  # the plugin closes only a client it built

    def chat(self, *, chat_ctx: llm.ChatContext, tools: Any = None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             **kwargs: Any) -> llm.LLMStream:
        return super().chat(chat_ctx=chat_ctx, tools=tools_with_their_schemas(tools), conn_options=self.attempt_options,
                            **kwargs)


def tools_with_their_schemas(tools: Sequence[llm.Tool] | None) -> list[llm.Tool] | None:
    """The tools as the model request carries them, each with its schema built once per process.

    The plugin rebuilds every function tool's strict JSON schema on every request (a pydantic model
    per tool, then its JSON schema): with ten tools that was over half of the CPU between the final
    transcript and the request leaving (docs/BENCHMARKS.md, "The turn at one call"). The schema
    depends only on the tool's signature and docstring, so it is built once (in the forkserver, for
    every job process) and sent as a raw schema, byte for byte the same. Only the request uses
    these: the session runs the tool the model picks from the agent's own tools."""
    if tools is None:
        return None
    return [_with_schema(tool) if isinstance(tool, llm.FunctionTool) else tool for tool in tools]


@functools.cache
def _with_schema(tool: llm.FunctionTool) -> llm.RawFunctionTool:
    async def run_by_the_session(raw_arguments: dict[str, Any]) -> None:
        raise RuntimeError(f"{tool.id}: the session runs the agent's own tool, not the request's copy")

    return llm.function_tool(run_by_the_session, raw_schema=llm.utils.build_strict_openai_schema(tool)["function"],
                             flags=tool.info.flags)


class CallFallbackLLM(llm.FallbackAdapter):
    """The tenant's model, then the fallback model, one attempt each; the adapter's own stream is
    not retried again (the session would retry the whole chain three times)."""

    def chat(self, *, chat_ctx: llm.ChatContext, tools: Any = None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             **kwargs: Any) -> llm.LLMStream:
        return super().chat(chat_ctx=chat_ctx, tools=tools, conn_options=APIConnectOptions(max_retry=0), **kwargs)


def build_llm(config: CallConfig) -> llm.LLM:
    """OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL (a local model server needs no
    real key, but the client insists on one): the tenant's model, retried once, or followed by
    `VOICE_LLM_FALLBACK_MODEL` when one is set."""
    model = config.llm.model
    fallback = settings.VOICE_LLM_FALLBACK_MODEL
    if fallback and fallback != model:
        return CallFallbackLLM([_openai_llm(model, retries=0), _openai_llm(fallback, retries=0)],
                               attempt_timeout=settings.VOICE_LLM_ATTEMPT_TIMEOUT, max_retry_per_llm=0,
                               retry_interval=LLM_RETRY_INTERVAL_SECONDS)
    return _openai_llm(model, retries=settings.VOICE_LLM_ATTEMPTS - 1)


def _openai_llm(model: str, *, retries: int) -> CallLLM:
    base_url = settings.OPENAI_BASE_URL or NOT_GIVEN
    api_key = settings.OPENAI_API_KEY or ("not-needed" if settings.OPENAI_BASE_URL else NOT_GIVEN)
    timeout = settings.VOICE_LLM_ATTEMPT_TIMEOUT
    return CallLLM(model=model, base_url=base_url, api_key=api_key, attempt_options=llm_attempt_options(retries=retries),
                   timeout=httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout))


def stt_options(config: CallConfig) -> dict[str, Any]:
    """Nova-3 `multi` (with Deepgram's endpointing for it) when it covers the tenant's language;
    otherwise Nova-3's monolingual model for that language (`multi` would transcribe a Polish
    caller as whichever of its ten languages sounds closest)."""
    model, language = config.stt.model, config.stt.language
    tenant_language = primary_subtag(config.language)
    # The business's own words (its name, services, menu items): Nova-3's keyterm prompting; other
    # models refuse the parameter.
    keyterms = {"keyterm": list(config.stt.keyterms)} if config.stt.keyterms and model.startswith("nova-3") else {}
    if language == "multi" and tenant_language not in DEEPGRAM_MULTI:
        return {"model": model, "language": tenant_language, **keyterms}
    if language == "multi":
        return {"model": model, "language": "multi", "endpointing_ms": MULTI_ENDPOINTING_MS, **keyterms}
    return {"model": model, "language": language, **keyterms}


def build_stt(config: CallConfig) -> deepgram.STT:
    # filler_words off: an "um" transcribed while the agent speaks would be a word that interrupts it.
    return deepgram.STT(**stt_options(config), filler_words=False, api_key=settings.DEEPGRAM_API_KEY or NOT_GIVEN,
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
        turn_handling=turn_handling(config),
        max_tool_steps=MAX_TOOL_STEPS,
        # No echo-cancellation warm-up: it dropped the caller's first 3 s after the greeting began,
        # and the phone network cancels the line's echo itself.
        aec_warmup_duration=None,
        userdata=userdata,
    )


def build_apology_session(*, vad_model: vad.VAD | None) -> AgentSession:
    """For calls that never reach a tenant (unknown number, API down, a session that failed to
    start): just a voice, the default one. The caller bounds how long it may take."""
    return AgentSession(tts=build_tts(CallConfig()), vad=vad_model, turn_handling={"turn_detection": "vad"})
