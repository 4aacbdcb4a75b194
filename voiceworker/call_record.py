"""Everything the end-of-call log reports, collected from the session's events as the call runs.

The log body is the contract with `POST /internal/calls/<id>/log` (docs/internal-api.md):
`ended_at`, `duration_seconds`, `outcome`, `end_reason`, `transferred_to`, `sip_call_id_full`, `transcript`,
`tool_calls`, `usage`, `transfer_attempts` (each try at reaching a person: `target`, `kind` cold/warm,
`offset_seconds`, `rang_seconds`, `outcome` answered/busy/declined/no_answer/failed, `sip_status`),
`latency` (one entry per generated agent reply — not per `session.say`
sentence —; `turn` is its index in `transcript`; `e2e_latency_ms` is livekit's end of the caller's
speech → the agent's first audio, `transcription_delay_ms` its end of speech → final transcript).
Offsets are seconds since the call started, as the dashboard shows them.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.llm import ChatMessage, FunctionCall, FunctionCallOutput
from livekit.agents.metrics.usage import LLMModelUsage, STTModelUsage, TTSModelUsage

from core import clock
from core.call_contract import Outcome
from core.card_numbers import mask_card_numbers, mask_card_numbers_in

# The caller's side of a reply's latency, from the user message that preceded it.
NO_USER_METRICS: dict[str, int | None] = {"end_of_utterance_ms": None, "transcription_delay_ms": None}
# Keeps one runaway call from producing a log the API refuses (it caps the body size).
MAX_TEXT_CHARS = 4000


class CallRecorder:
    def __init__(self, *, language: str = "", wall_clock: Callable[[], float] = time.time,
                 platform_clock: Callable[[], dt.datetime] | None = None):
        self._wall_clock = wall_clock
        self.started_at = wall_clock()
        # The log's `ended_at` is read on the platform's clock (`core.clock`, which the API checks it
        # against) at the start plus the time the call took; everything within the call is relative
        # to `wall_clock`, the one livekit-agents stamps its events with. In production both are the
        # machine's clock; a test that pins the platform's time pins the log's with it.
        self._started_on_platform = (platform_clock or clock.now)()
        self.language = language
        self.transcript: list[dict[str, Any]] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.latency: list[dict[str, Any]] = []
        self.transfer_attempts: list[dict[str, Any]] = []
        self._caller_language = ""
        self._pending_user_metrics: dict[str, int | None] = dict(NO_USER_METRICS)
        self._session: AgentSession | None = None

    def start_clock_at(self, at: float) -> None:
        """The call's clock starts at `at` (the caller's answer), on both clocks: offsets and the
        duration count from it, and the log's `ended_at` stays the real end."""
        self._started_on_platform += dt.timedelta(seconds=at - self.started_at)
        self.started_at = at

    def attach(self, session: AgentSession) -> None:
        self._session = session
        session.on("conversation_item_added", lambda event: self.add_item(event.item))
        session.on("function_tools_executed", lambda event: self.add_tool_results(event.zipped()))
        session.on("user_input_transcribed", self._on_transcribed)

    def _offset(self, at: float) -> float:
        return round(max(at - self.started_at, 0.0), 2)

    def _on_transcribed(self, event: Any) -> None:
        if event.is_final and event.language:
            self._caller_language = str(event.language)

    def add_item(self, item: Any) -> None:
        # Agent handoffs and config updates arrive here too; only spoken messages are transcript.
        if getattr(item, "type", None) != "message" or not isinstance(item, ChatMessage):
            return
        if item.role not in ("user", "assistant"):
            return
        text = item.text_content or ""
        if not text.strip():
            return
        metrics = item.metrics or {}
        self.transcript.append({
            "role": item.role,
            # Card numbers are masked before the log exists, so the spool never holds one on disk.
            "text": mask_card_numbers(text)[:MAX_TEXT_CHARS],
            "offset_seconds": self._offset(item.created_at),
            "language": ((self._caller_language or self.language) if item.role == "user" else self.language)[:16],
            "interrupted": bool(item.interrupted),
        })
        if item.role == "user":
            self._pending_user_metrics = {"end_of_utterance_ms": _ms(metrics.get("end_of_turn_delay")),
                                          "transcription_delay_ms": _ms(metrics.get("transcription_delay"))}
            return
        ttft = _ms(metrics.get("llm_node_ttft"))
        if ttft is None:
            # A fixed sentence (`session.say`: the greeting, "are you still there?", an apology):
            # nothing was generated, so it is no reply whose wait the caller felt.
            return
        self.latency.append({
            "turn": len(self.transcript) - 1,
            "llm_ttft_ms": ttft,
            "tts_ttfb_ms": _ms(metrics.get("tts_node_ttfb")),
            # From the end of the caller's speech to the agent's first audio: what the caller felt.
            "e2e_latency_ms": _ms(metrics.get("e2e_latency")),
            **self._pending_user_metrics,
        })
        self._pending_user_metrics = dict(NO_USER_METRICS)

    def add_tool_results(self, pairs: list[tuple[FunctionCall, FunctionCallOutput | None]]) -> None:
        for call, output in pairs:
            finished = output.created_at if output is not None else self._wall_clock()
            self.add_tool_call(
                name=call.name,
                arguments=_json_object(call.arguments),
                result=_json_object(output.output) if output is not None else {},
                is_error=bool(output.is_error) if output is not None else True,
                started_at=call.created_at,
                duration_ms=int(max(finished - call.created_at, 0) * 1000),
            )

    def add_tool_call(self, *, name: str, arguments: dict[str, Any], result: dict[str, Any], is_error: bool,
                      started_at: float, duration_ms: int) -> None:
        """Also used for tool calls the worker makes itself (the watchdog's forced transfer)."""
        self.tool_calls.append({
            "name": name,
            "arguments": mask_card_numbers_in(arguments),
            "result": mask_card_numbers_in(result),
            "is_error": is_error,
            "offset_seconds": self._offset(started_at),
            "duration_ms": duration_ms,
        })

    def add_transfer_attempt(self, *, target: str, started_at: float, ended_at: float, outcome: str,
                             sip_status: int | None = None, kind: str = "cold") -> None:
        """One try at reaching a person (`outcome`: one of TRANSFER_ATTEMPT_OUTCOMES); `kind` cold or warm."""
        self.transfer_attempts.append({
            "target": target, "kind": kind, "offset_seconds": self._offset(started_at),
            "rang_seconds": round(max(ended_at - started_at, 0.0), 2), "outcome": outcome, "sip_status": sip_status,
        })

    def inferred_outcome(self) -> Outcome:
        """The outcome of a call that ended without end_call (the caller hung up), from what its
        tools achieved; the latest achievement wins."""
        for tool_call in reversed(self.tool_calls):
            if tool_call["is_error"]:
                continue
            if tool_call["name"] == "create_booking":
                return Outcome.BOOKED
            if tool_call["name"] == "create_order":
                return Outcome.ORDERED
            if tool_call["name"] == "transfer_to_human":
                action = tool_call["result"].get("result", {}).get("action")
                # "message": the transfer came back and the business takes messages, not callbacks.
                return {"callback": Outcome.CALLBACK, "message": Outcome.OTHER}.get(action, Outcome.TRANSFERRED)
        return Outcome.OTHER

    def usage(self) -> dict[str, Any]:
        totals = {"llm_prompt_tokens": 0, "llm_completion_tokens": 0, "stt_seconds": 0.0, "tts_characters": 0}
        if self._session is None:
            return totals
        for model_usage in self._session.usage.model_usage:
            if isinstance(model_usage, LLMModelUsage):
                totals["llm_prompt_tokens"] += model_usage.input_tokens
                totals["llm_completion_tokens"] += model_usage.output_tokens
            elif isinstance(model_usage, STTModelUsage):
                totals["stt_seconds"] += model_usage.audio_duration
            elif isinstance(model_usage, TTSModelUsage):
                totals["tts_characters"] += model_usage.characters_count
        totals["stt_seconds"] = round(totals["stt_seconds"], 2)
        return totals

    def build_log(self, *, outcome: str, end_reason: str, transferred_to: str = "", sip_call_id_full: str = "",
                  ended_at: float | None = None) -> dict[str, Any]:
        """`ended_at`: when the caller left or was hung up on, if that was before now."""
        ended = ended_at if ended_at is not None else self._wall_clock()
        return {
            "ended_at": (self._started_on_platform + dt.timedelta(seconds=max(ended - self.started_at, 0.0))
                         ).astimezone(dt.UTC).isoformat(),
            "duration_seconds": round(max(ended - self.started_at, 0.0), 2),
            "outcome": outcome,
            "end_reason": end_reason[:500],
            "transferred_to": transferred_to,
            "sip_call_id_full": sip_call_id_full,
            "transcript": self.transcript,
            "tool_calls": self.tool_calls,
            "usage": self.usage(),
            "latency": self.latency,
            "transfer_attempts": self.transfer_attempts,
        }


def _ms(seconds: Any) -> int | None:
    return int(round(seconds * 1000)) if isinstance(seconds, int | float) and seconds >= 0 else None


def _json_object(text: Any) -> dict[str, Any]:
    """Tool arguments and outputs are JSON text when all goes well; keep anything else as text."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) and text else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    return {"text": str(text)[:MAX_TEXT_CHARS]} if text else {}
