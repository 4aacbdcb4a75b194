"""Whether the caller is still on the line: their SIP leg in the room, watched from the moment it
joined. When it leaves, the call is over at once (`CallState.caller_left`: the watchdog stops,
nothing more is said) and `on_leave` runs (the job ends, `call_job.CallJob`)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from livekit import rtc

from voiceworker.call_state import CALLER_HUNG_UP, CallState


class CallerGone(Exception):
    pass


class CallerPresence:
    def __init__(self, *, room: rtc.Room, identity: str, present_now: bool = True):
        self.identity = identity
        self.joined_at = time.time()
        self.left_at: float | None = None
        self.gone = asyncio.Event()
        self.on_leave: list[Callable[[], object]] = []
        self._call: CallState | None = None
        room.on("participant_disconnected", self._on_disconnected)
        if present_now and identity not in getattr(room, "remote_participants", {identity: None}):
            self._left()  # gone between the join and this line

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
            call.settle(outcome="transferred", end_reason=call.transfer_reason, transferred_to=call.transfer_target)
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
