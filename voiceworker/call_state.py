"""The state of one call, shared by the agent's tools, the watchdog and the end-of-call log
(it is the session's `userdata`)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.call_contract import CallConfig, Outcome
from core.call_phrases import PHRASES
from voiceworker.api_client import KEYED_ACTIONS, ApiUnavailable, SoniqApiClient, ToolReply
from voiceworker.call_control import CallControl
from voiceworker.call_record import CallRecorder

# When a tool call has taken this long, the agent says a short filler once.
FILLER_DELAY_SECONDS = 0.7
# Between the end of the last words and the room's deletion (`call_actions.hang_up`).
HANG_UP_GRACE_SECONDS = 0.5
# The apology to a caller about to be hung up on: bounded (one quick TTS attempt, not a long silence).
APOLOGY_TIMEOUT_SECONDS = 5.0
CALLER_HUNG_UP = "The caller hung up."


@dataclass
class CallState:
    call_id: str
    call_token: str
    config: CallConfig
    api: SoniqApiClient
    control: CallControl
    recorder: CallRecorder = field(default_factory=CallRecorder)
    filler_delay: float = FILLER_DELAY_SECONDS
    # After this long without the model's first word the caller hears a filler (None: never).
    llm_filler_delay: float | None = None
    # Empty until the call's end is settled.
    outcome: Outcome | Literal[""] = ""
    end_reason: str = ""
    transferred_to: str = ""
    # The carrier's SIP Call-ID (`sip.callIDFull`), kept on the call for carrier tickets.
    sip_call_id_full: str = ""
    # True once the caller is gone (hung up on, transferred, or hung up themselves): nothing more is
    # said or done.
    over: bool = False
    # True from the moment a transfer starts until it failed: no new LLM turn, no second transfer.
    transferring: bool = False
    transfer_target: str = ""
    transfer_reason: str = ""
    # See `call_actions.hang_up`.
    hang_up_grace: float = HANG_UP_GRACE_SECONDS
    # Set when the caller's SIP leg leaves the room (they hung up, or a transfer took them away).
    caller_gone: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by `call_actions.hang_up`: the room (and with it the caller's line) is gone.
    room_deleted: bool = False
    # When the caller left or was hung up on: the log's end, however long the job takes to finish.
    ended_at: float | None = None
    # The room and phone line a warm transfer dials into (voiceworker/warm_transfer.RoomLine); None for
    # calls without a phone line (a test call from the browser, console and simulated jobs).
    room_line: Any = None
    # Called once, the moment the call is over: stops the watchdog (it must not outlive the caller).
    on_over: list[Callable[[], None]] = field(default_factory=list)

    @property
    def language(self) -> str:
        return self.config.language

    def phrase(self, key: str) -> str:
        """A sentence the worker says itself, in the tenant's language (the config's `phrases`,
        translated by the API; English for a key it lacks)."""
        return self.config.phrases.get(key) or PHRASES[key]

    def end(self) -> None:
        """The caller is gone or about to be: nothing more is said, the watchdog stops."""
        if self.ended_at is None:
            self.ended_at = time.time()
        if self.over:
            return
        self.over = True
        for callback in self.on_over:
            callback()

    def caller_left(self) -> None:
        self.caller_gone.set()
        self.end()

    def idempotency_key(self, action: str, payload: dict[str, Any]) -> str:
        """The same for the same create in the same call: the model's retry of a request that
        timed out (but may have succeeded) is replayed by the API instead of booking twice."""
        canonical = json.dumps({"call": self.call_id, "action": action, "payload": payload}, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    async def run_tool(self, action: str, payload: dict[str, Any]) -> ToolReply:
        """One tool request to the API. A create request carries an Idempotency-Key derived from the
        call and the request (`idempotency_key`), which the client also keeps for its own retry."""
        key = self.idempotency_key(action, payload) if action in KEYED_ACTIONS else None
        return await self.api.call_tool(call_token=self.call_token, action=action, payload=payload, idempotency_key=key)

    async def run_tool_recorded(self, action: str, payload: dict[str, Any]) -> ToolReply | None:
        """A tool request the worker makes on its own (not the model's), written into the call's
        tool log like the model's are. None when the API could not be reached."""
        started, began = time.time(), time.monotonic()
        try:
            reply: ToolReply | None = await self.run_tool(action, payload)
        except ApiUnavailable as exc:
            reply = None
            result: dict[str, Any] = {"error": str(exc)}
        else:
            result = ({"result": reply.result, "message": reply.message} if reply.ok
                      else {"error": {"code": reply.error_code, "message": reply.message}})
        self.recorder.add_tool_call(name=action, arguments=payload, result=result,
                                    is_error=reply is None or not reply.ok, started_at=started,
                                    duration_ms=int((time.monotonic() - began) * 1000))
        return reply

    def settle(self, *, outcome: Outcome, end_reason: str, transferred_to: str = "") -> None:
        """Record how the call ended; the first account wins (a hang-up after a transfer does not
        overwrite "transferred")."""
        if not self.outcome:
            self.outcome = outcome
        if not self.end_reason:
            self.end_reason = end_reason
        if transferred_to and not self.transferred_to:
            self.transferred_to = transferred_to
