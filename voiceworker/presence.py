"""Whether the caller is on the line: their SIP leg in the room, watched from the moment it joined.

An inbound caller joins while their call still rings (`sip.callStatus` "ringing": the SIP bridge
answers once the agent publishes audio); `answered` is set at "active", when the greeting can be
heard and the call's clock starts. When the leg leaves the room or its status turns "hangup", the
call is over at once (`CallState.caller_left`: the watchdog stops, nothing more is said) and
`on_leave` runs (the job ends, `call_job.CallJob`). A leg without the attribute (an older bridge,
console mode) counts as answered when it joins."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from livekit import rtc

from core.call_contract import Outcome
from voiceworker.call_state import CALLER_HUNG_UP, CallState

# LiveKit's SIP participant attribute and its values; the package exports no constants for them.
CALL_STATUS, RINGING, ACTIVE, HANGUP = "sip.callStatus", "ringing", "active", "hangup"


class CallerGone(Exception):
    pass


class CallerPresence:
    def __init__(self, *, room: rtc.Room, identity: str, present_now: bool = True, call_status: str = ""):
        self.identity = identity
        self.joined_at = time.time()
        self.answered_at: float | None = None
        self.left_at: float | None = None
        self.answered = asyncio.Event()
        self.gone = asyncio.Event()
        self.on_leave: list[Callable[[], object]] = []
        self._call: CallState | None = None
        room.on("participant_disconnected", self._on_disconnected)
        room.on("participant_attributes_changed", self._on_attributes_changed)
        if present_now and identity not in getattr(room, "remote_participants", {identity: None}):
            self._left()  # gone between the join and this line
        elif call_status == HANGUP:
            self._left()
        elif call_status != RINGING:
            self._answer()

    @property
    def talk_started_at(self) -> float:
        """When the call's clock starts: the answer (ring time is no talk time); a caller who hung
        up while it rang talked for no time at all."""
        return self.answered_at or self.left_at or self.joined_at

    def _answer(self) -> None:
        if not self.answered.is_set():
            self.answered_at = time.time()
            self.answered.set()

    def _on_attributes_changed(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if participant.identity != self.identity or CALL_STATUS not in changed:
            return
        if changed[CALL_STATUS] == ACTIVE:
            self._answer()
        elif changed[CALL_STATUS] == HANGUP and not self.gone.is_set():
            self._left()

    def attach(self, call: CallState) -> None:
        self._call = call
        if self.gone.is_set():
            self._settle(call)

    def _on_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self.identity and not self.gone.is_set():
            self._left()

    def _left(self) -> None:
        self.left_at = time.time()
        self.gone.set()
        if self._call is not None:
            self._settle(self._call)
        for callback in self.on_leave:
            callback()

    def _settle(self, call: CallState) -> None:
        if call.transferring:
            # The leg left because the transfer took it (settled here too: the job may end before
            # `transfer_caller` gets to it).
            call.settle(outcome=Outcome.TRANSFERRED, end_reason=call.transfer_reason, transferred_to=call.transfer_target)
        else:
            call.settle(outcome=call.recorder.inferred_outcome(), end_reason=CALLER_HUNG_UP)
        call.caller_left()

    async def unless_gone(self, awaitable: asyncio.Future) -> None:
        """Wait for `awaitable`; CallerGone if the caller leaves first (it keeps running)."""
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({awaitable, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not awaitable.done():
            raise CallerGone()
        awaitable.result()
