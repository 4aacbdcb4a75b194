"""A warm transfer on one room: the agent calls the staff member into the caller's room, tells them who
is calling and why, and leaves the two together once they accept.

livekit-agents' `WarmTransferTask` moves participants between rooms (MoveParticipant), which the
open-source server does not implement; everything here happens in the call's own room:

1. The caller hears the API's "please hold" sentence, then hold tones: a second audio track of the
   agent's (`HoldTones`), the only one of its tracks the caller may subscribe to from now on
   (`set_track_subscription_permissions`): the agent's voice track, on which the briefing is said,
   is the staff member's alone.
2. The staff number is dialled into the room through the outbound trunk (voiceworker/outbound.py),
   from the business's own number, ringing at most the business's ringing timeout (as a cold transfer
   does: `TransferConfig.ringing_timeout_seconds`). Caller and staff
   are kept from hearing each other (`UpdateSubscriptions` on the server) until the staff accepts.
3. Answered: the briefing ("… is on the line about …, press 1 to take the call, or 2 to decline").
   The staff member answers with a key (DTMF: a key is unambiguous on any phone and needs no second
   speech recogniser on the staff leg): 1 connects, 2 (or hanging up, or no key within
   `STAFF_DECISION_SECONDS` after the question was asked twice) declines.
4. Accepted: caller and staff are subscribed to each other, the hold tones stop, the call settles as
   transferred, and the agent leaves the room without deleting it: the call goes on between them.
5. Busy, declined, not answered, or the dial failed: the staff leg is removed, the caller may hear the
   agent again, is told at once the fixed sentence for how it ended (the cold transfer's
   `call_actions.TRANSFER_ENDED_PHRASES`), and the same transfer_to_human request goes to the API
   marked `transfer_failed`, which queues a callback or asks for a message (the business's choice).
Every attempt goes into the call log as a transfer attempt of kind "warm" (the call page shows it).
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
from livekit import api, rtc
from livekit.agents import AgentSession

from core.call_contract import Outcome
from voiceworker import call_actions  # a module reference: call_actions routes warm transfers here
from voiceworker.api_client import ToolReply
from voiceworker.call_state import CallState
from voiceworker.outbound import DialResult, dial_into_room, dialable_number

logger = logging.getLogger("soniq.voiceworker")

# After the briefing's question: how long to wait for a key before asking once more, then declining.
STAFF_DECISION_SECONDS = 12.0
ACCEPT_KEY, DECLINE_KEY = "1", "2"
HOLD_TRACK_NAME = "soniq-hold"
# Attributes of the staff member's SIP participant, for anyone looking at the room.
STAFF_ROLE_ATTRIBUTE = "soniq.role"


@dataclass
class RoomLine:
    """What a warm transfer needs of the call's room, set by `CallJob` for phone calls only (a test call
    from the browser has no phone line to dial from)."""

    room: rtc.Room
    lkapi: api.LiveKitAPI
    caller_identity: str
    own_number: str  # the business's number the caller dialled: the staff member sees it as the caller id
    caller_number: str
    leave: Callable[[], None]  # ends the job without deleting the room


class HoldTones:
    """A soft two-tone beep every two seconds on a track of its own (what the caller hears while held)."""

    RATE = 16000
    FRAME = RATE // 50  # 20 ms

    def __init__(self, room: rtc.Room):
        self.room = room
        self.source = rtc.AudioSource(self.RATE, 1)
        self.track = rtc.LocalAudioTrack.create_audio_track(HOLD_TRACK_NAME, self.source)
        self.publication: rtc.LocalTrackPublication | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self.publication = await self.room.local_participant.publish_track(self.track, options)
        self._task = asyncio.create_task(self._play())
        return self.publication.sid

    def _pattern(self) -> np.ndarray:
        # 440 Hz then 480 Hz for 0.25 s each, then 1.5 s of silence: a recognisable "please hold" pulse.
        def tone(freq: float, seconds: float) -> np.ndarray:
            t = np.arange(int(self.RATE * seconds)) / self.RATE
            ramp = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)  # no clicks at the edges
            return 0.15 * np.sin(2 * math.pi * freq * t) * ramp
        pattern = np.concatenate([tone(440, 0.25), tone(480, 0.25), np.zeros(int(self.RATE * 1.5))])
        return (pattern * 32767).astype(np.int16)

    async def _play(self) -> None:
        pattern = self._pattern()
        position = 0
        while True:
            chunk = np.take(pattern, range(position, position + self.FRAME), mode="wrap")
            position = (position + self.FRAME) % len(pattern)
            frame = rtc.AudioFrame(chunk.tobytes(), self.RATE, 1, self.FRAME)
            await self.source.capture_frame(frame)  # paces itself: the source's queue is bounded

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.publication is not None:
            try:
                await self.room.local_participant.unpublish_track(self.publication.sid)
            except Exception as exc:  # the room may be closing: the track goes with it
                logger.info("could not unpublish the hold track: %s", exc)
        await self.source.aclose()


class StaffDecision:
    """The staff member's key (1 accept, 2 decline), or their hang-up (declined)."""

    def __init__(self, room: rtc.Room, staff_identity: str):
        self.room, self.staff_identity = room, staff_identity
        self.decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        room.on("sip_dtmf_received", self._on_dtmf)
        room.on("participant_disconnected", self._on_left)

    def _decide(self, accepted: bool) -> None:
        if not self.decided.done():
            self.decided.set_result(accepted)

    def _on_dtmf(self, dtmf: Any) -> None:
        participant = getattr(dtmf, "participant", None)
        if participant is None or participant.identity != self.staff_identity:
            return  # the caller pressing keys while on hold decides nothing
        if dtmf.digit == ACCEPT_KEY:
            self._decide(True)
        elif dtmf.digit == DECLINE_KEY:
            self._decide(False)

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self.staff_identity:
            self._decide(False)

    def close(self) -> None:
        self.room.off("sip_dtmf_received", self._on_dtmf)
        self.room.off("participant_disconnected", self._on_left)


def _audio_track_sids(participant: rtc.Participant, *, except_name: str = "") -> list[str]:
    return [publication.sid for publication in participant.track_publications.values()
            if publication.kind == rtc.TrackKind.KIND_AUDIO and publication.name != except_name]


class _Apart:
    """Caller and staff do not hear each other until the staff member accepts: the server unsubscribes
    each from the other's audio (the SIP bridge subscribes its leg to every audio track it sees)."""

    def __init__(self, line: RoomLine, staff_identity: str):
        self.line, self.staff_identity = line, staff_identity
        self._tasks: set[asyncio.Task[None]] = set()
        line.room.on("track_published", self._on_published)

    def _on_published(self, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        # The staff leg publishes its audio just after it answers: keep it from the caller as well.
        if participant.identity in (self.staff_identity, self.line.caller_identity):
            task = asyncio.create_task(self.apply(subscribe=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def apply(self, *, subscribe: bool) -> None:
        room, pairs = self.line.room, [(self.staff_identity, self.line.caller_identity),
                                       (self.line.caller_identity, self.staff_identity)]
        for listener, speaker in pairs:
            other = room.remote_participants.get(speaker)
            sids = _audio_track_sids(other) if other is not None else []
            if not sids or listener not in room.remote_participants:
                continue
            try:
                await self.line.lkapi.room.update_subscriptions(api.UpdateSubscriptionsRequest(
                    room=room.name, identity=listener, track_sids=sids, subscribe=subscribe))
            except (api.TwirpError, aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("could not %s %s to %s: %s", "subscribe" if subscribe else "unsubscribe", listener,
                               speaker, exc)

    async def close(self) -> None:
        self.line.room.off("track_published", self._on_published)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def join(self) -> None:
        await self.close()
        await self.apply(subscribe=True)


def briefing_text(call: CallState, *, line: RoomLine, request: dict[str, Any]) -> str:
    caller = str(request.get("caller_name") or "").strip() or line.caller_number or call.phrase("warm_transfer_a_caller")
    reason = str(request.get("reason") or "").strip().rstrip(".")
    return call.phrase("warm_transfer_briefing").format(business=call.config.business_name, caller=caller,
                                                        reason=reason)


async def transfer_warm(session: AgentSession, call: CallState, *, line: RoomLine, transfer_to: str,
                        request: dict[str, Any], announcement: str,
                        ringing_timeout: float | None = None,
                        decision_seconds: float = STAFF_DECISION_SECONDS) -> ToolReply | None:
    """The warm transfer of `call` to `transfer_to`, as `call_actions.transfer_caller` does the cold one:
    None once caller and staff are together (the agent has left), else the API's answer to the
    transfer_failed request (the queued callback, or the message to take) for the model to carry on with.
    `ringing_timeout` defaults to the business's (`TransferConfig.ringing_timeout_seconds`)."""
    if ringing_timeout is None:
        ringing_timeout = float(call.config.transfer.ringing_timeout_seconds)
    reason = str(request.get("reason") or "")
    call.transferring, call.transfer_target, call.transfer_reason = True, transfer_to, reason
    await call_actions.say_and_wait(session, announcement)
    room = line.room
    staff_identity = f"staff-{call.call_id}"
    hold = HoldTones(room)
    hold_sid = await hold.start()
    voice_sids = _audio_track_sids(room.local_participant, except_name=HOLD_TRACK_NAME)
    # From here the caller may subscribe to the hold tones only, the staff member to the agent's voice only.
    room.local_participant.set_track_subscription_permissions(allow_all_participants=False, participant_permissions=[
        rtc.ParticipantTrackPermission(participant_identity=line.caller_identity, allowed_track_sids=[hold_sid]),
        rtc.ParticipantTrackPermission(participant_identity=staff_identity, allowed_track_sids=voice_sids),
    ])
    apart = _Apart(line, staff_identity)
    decision = StaffDecision(room, staff_identity)
    accepted, dial = False, None
    started = time.time()
    try:
        dial = await dial_into_room(
            line.lkapi, room_name=room.name, to_number=dialable_number(transfer_to), from_number=line.own_number,
            participant_identity=staff_identity, participant_name="Staff",
            attributes={STAFF_ROLE_ATTRIBUTE: "transfer_target", "soniq.call_id": call.call_id},
            ringing_timeout=ringing_timeout)
        logger.info("call %s: warm transfer to %s: %s after %.1f s", call.call_id, transfer_to, dial.outcome.value,
                    dial.rang_seconds)
        if dial.answered and not call.over:
            await apart.apply(subscribe=False)
            accepted = await _brief_and_ask(session, call, line=line, request=request, decision=decision,
                                            decision_seconds=decision_seconds)
    finally:
        decision.close()
        _record_attempt(call, transfer_to=transfer_to, started=started, dial=dial, accepted=accepted)
    if not accepted:
        await apart.close()
    if call.over:  # the caller hung up meanwhile: the job is ending, the room goes with it
        await hold.stop()
        return None
    if accepted:
        await call_actions.say_and_wait(session, call.phrase("warm_transfer_connecting"))
        await apart.join()
        await hold.stop()
        room.local_participant.set_track_subscription_permissions(allow_all_participants=True)
        call.settle(outcome=Outcome.TRANSFERRED, end_reason=reason, transferred_to=transfer_to)
        call.end()
        # The room is the caller's and the staff member's now: the job ends without deleting it.
        call.room_deleted = True
        line.leave()
        return None
    return await _back_to_the_caller(session, call, line=line, hold=hold, staff_identity=staff_identity,
                                     request=request, ended=warm_attempt_outcome(dial, accepted=False))


def warm_attempt_outcome(dial: DialResult | None, *, accepted: bool) -> str:
    """How a warm attempt ended, in the call log's words (TRANSFER_ATTEMPT_OUTCOMES): the staff leg's
    own outcome, except that a staff member who picked up and then did not accept declined it."""
    if dial is None:
        return "failed"
    if dial.answered:
        return "answered" if accepted else "declined"
    return dial.outcome.value


def _record_attempt(call: CallState, *, transfer_to: str, started: float, dial: DialResult | None,
                    accepted: bool) -> None:
    # The ringing is the dial's own measure (up to the answer or the failure), not the briefing after it.
    rang = dial.rang_seconds if dial is not None else time.time() - started
    call.recorder.add_transfer_attempt(target=transfer_to, started_at=started, ended_at=started + rang,
                                       outcome=warm_attempt_outcome(dial, accepted=accepted),
                                       sip_status=dial.sip_status_code if dial is not None else None, kind="warm")


async def _brief_and_ask(session: AgentSession, call: CallState, *, line: RoomLine, request: dict[str, Any],
                         decision: StaffDecision, decision_seconds: float) -> bool:
    briefing = briefing_text(call, line=line, request=request)

    for question in (briefing, call.phrase("warm_transfer_ask_again")):
        if decision.decided.done():
            break
        await call_actions.say_and_wait(session, question)
        try:
            return await asyncio.wait_for(asyncio.shield(decision.decided), decision_seconds)
        except TimeoutError:
            continue
    return decision.decided.result() if decision.decided.done() else False


async def _back_to_the_caller(session: AgentSession, call: CallState, *, line: RoomLine, hold: HoldTones,
                              staff_identity: str, request: dict[str, Any], ended: str) -> ToolReply:
    """Nobody took the call: the staff leg goes, the caller hears the agent again and at once the
    fixed sentence for how it `ended` (as after a cold transfer), while the business's fallback (a
    callback queued, or a message to take) is requested; the model carries on from its answer."""
    if line.room.remote_participants.get(staff_identity) is not None:
        try:
            await line.lkapi.room.remove_participant(api.RoomParticipantIdentity(room=line.room.name,
                                                                                 identity=staff_identity))
        except (api.TwirpError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("call %s: could not hang up the staff leg: %s", call.call_id, exc)
    await hold.stop()
    line.room.local_participant.set_track_subscription_permissions(allow_all_participants=True)
    call.transferring = False
    logger.warning("call %s: warm transfer to %s not taken (%s), falling back to the business's %s", call.call_id,
                   call.transfer_target, ended, call.config.transfer.fallback)
    fallback = asyncio.create_task(call.run_tool_recorded("transfer_to_human", {**request, "transfer_failed": True}))
    await call_actions.say_and_wait(session, call.phrase(call_actions.TRANSFER_ENDED_PHRASES.get(ended,
                                                                                               "transfer_failed")))
    reply = await fallback
    return reply or ToolReply(ok=False, status=0, error_code="unavailable",
                              message="The transfer did not go through and the callback could not be queued.")
