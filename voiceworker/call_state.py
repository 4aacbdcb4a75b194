"""The state of one call, shared by the agent's tools, the watchdog and the end-of-call log
(it is the session's `userdata`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from voiceworker.api_client import KEYED_ACTIONS, ApiUnavailable, SoniqApiClient, ToolReply, new_idempotency_key
from voiceworker.call_control import CallControl
from voiceworker.call_record import CallRecorder

# When a tool call has taken this long, the agent says a short filler once.
FILLER_DELAY_SECONDS = 0.7


@dataclass
class CallState:
    call_id: str
    call_token: str
    config: dict[str, Any]
    api: SoniqApiClient
    control: CallControl
    recorder: CallRecorder = field(default_factory=CallRecorder)
    filler_delay: float = FILLER_DELAY_SECONDS
    outcome: str = ""
    end_reason: str = ""
    transferred_to: str = ""
    # True once the caller is gone (hung up on, or transferred): nothing more is said or done.
    over: bool = False

    @property
    def language(self) -> str:
        return str(self.config.get("language") or "en")

    async def run_tool(self, action: str, payload: dict[str, Any]) -> ToolReply:
        """One tool request to the API. A create request gets a fresh Idempotency-Key here, which
        the client keeps for its retry."""
        key = new_idempotency_key() if action in KEYED_ACTIONS else None
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

    def settle(self, *, outcome: str, end_reason: str, transferred_to: str = "") -> None:
        """Record how the call ended; the first account wins (a hang-up after a transfer does not
        overwrite "transferred")."""
        if not self.outcome:
            self.outcome = outcome
        if not self.end_reason:
            self.end_reason = end_reason
        if transferred_to and not self.transferred_to:
            self.transferred_to = transferred_to
