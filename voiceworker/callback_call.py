"""A callback the agent returns (issue 24, items 5-6): the job the platform dispatched into a new room
with a callback grant (calls/callback_dialing.py). One job, one attempt:

1. `POST /internal/calls/start` with the grant: the call row, its token, and the config — the number
   to dial, the business's number to call from, the opening sentence as the greeting ("you asked us
   to call you back about …") and the voicemail message, in the tenant's language.
2. Dial through the outbound trunk (voiceworker/outbound.py: `CreateSIPParticipant`, waiting for
   the answer, `VOICE_CALLBACK_RINGING_SECONDS` of ringing at most). Busy, declined, no answer or a
   failure is reported (`/internal/calls/<id>/callback-attempt`) and the job ends: the platform
   schedules the next try.
3. Answered: the first speech tells a person from a machine (voiceworker/answering_machine.py).
   - A person (or nobody speaking first): "answered" is reported, and the call is the ordinary call
     of `CallJob` from its session on — the agent greets with the opening sentence and handles the
     request with the same tools; the log goes to the platform as for any call.
   - A voicemail or screening service: once its greeting has ended, the short message, the hang-up,
     "voicemail" reported (a retry follows, up to the business's limit), and the log of what was said.

Imported by job processes: settings and HTTP only, no models.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from django.conf import settings
from livekit import api, rtc

from core.call_contract import Outcome, RecordingConfig
from voiceworker import call_actions
from voiceworker.answering_machine import Answered, Detection, detect
from voiceworker.api_client import ApiRefused, ApiUnavailable, CallStart, SoniqApiClient
from voiceworker.call_job import CallJob, SipCall
from voiceworker.outbound import DialOutcome, DialResult, dial_into_room
from voiceworker.presence import CALL_STATUS, CallerGone

logger = logging.getLogger("soniq.voiceworker")

# What the platform records for each dial outcome: a declined call is a busy line to the business
# (the person could not take it now; try again later).
RESULT_OF_DIAL = {DialOutcome.BUSY: "busy", DialOutcome.DECLINED: "busy", DialOutcome.NO_ANSWER: "no_answer",
                  DialOutcome.FAILED: "failed"}
VOICEMAIL_END_REASON = "Voicemail: the callback message was left."


class AudioTap:
    """The dialled party's audio from the moment their track is subscribed, for the answering-machine
    check (the session's own input starts only after it)."""

    def __init__(self, room: rtc.Room, identity: str):
        self.identity = identity
        self.queue: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._room = room
        room.on("track_subscribed", self._on_track_subscribed)
        for participant in room.remote_participants.values():
            for publication in participant.track_publications.values():
                if publication.track is not None:
                    self._on_track_subscribed(publication.track, publication, participant)

    def _on_track_subscribed(self, track: rtc.Track, publication, participant: rtc.RemoteParticipant) -> None:
        if participant.identity != self.identity or track.kind != rtc.TrackKind.KIND_AUDIO or self._tasks:
            return
        self._tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=16000, num_channels=1)
        try:
            async for event in stream:
                self.queue.put_nowait(event.frame)
        finally:
            await stream.aclose()

    def drop_buffered(self) -> None:
        """Forget what came before the answer (ringback, early media)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    async def frames(self) -> AsyncIterator[rtc.AudioFrame]:
        while (frame := await self.queue.get()) is not None:
            yield frame

    def close(self) -> None:
        self._room.off("track_subscribed", self._on_track_subscribed)
        for task in self._tasks:
            task.cancel()
        self.queue.put_nowait(None)


class CallbackCall:
    def __init__(self, job: CallJob, *, grant: str):
        self.job = job
        self.grant = grant

    async def run(self) -> None:
        job, ctx = self.job, self.job.ctx
        job.api = job.api or SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
        try:
            start = await job.api.start_call(called_number="", caller_number="", room=ctx.room.name, sip_call_id="",
                                             callback_grant=self.grant)
        except (ApiUnavailable, ApiRefused) as exc:
            # Nobody has been dialled: the platform closes the unreported attempt and tries again later.
            logger.error("callback in room %s not started: %s", ctx.room.name, exc)
            await self._end(reason="callback not started")
            return
        callback = start.config.callback
        await ctx.connect()
        identity = f"callee-{start.call_id[:8]}"
        tap = AudioTap(ctx.room, identity)
        try:
            dialled = await dial_into_room(ctx.api, room_name=ctx.room.name, to_number=callback.dial_number,
                                           from_number=callback.from_number, participant_identity=identity,
                                           ringing_timeout=settings.VOICE_CALLBACK_RINGING_SECONDS,
                                           attributes={"soniq.callback": str(callback.callback_id)})
            if not dialled.answered:
                await self._not_reached(start, dialled)
                return
            tap.drop_buffered()
            participant = ctx.room.remote_participants.get(identity) or await asyncio.wait_for(
                ctx.wait_for_participant(identity=identity), 10)
            job.participant = participant
            attributes = dict(participant.attributes)
            job.sip_call = SipCall(called_number=callback.from_number, caller_number=callback.dial_number,
                                   sip_call_id=attributes.get("sip.callID", dialled.sip_call_id),
                                   sip_call_id_full=attributes.get("sip.callIDFull", ""),
                                   call_status=attributes.get(CALL_STATUS, "active"))
            job.attach_caller()
            detection = await self._detect(tap)
        finally:
            tap.close()
        if detection is None:
            # They hung up before anyone spoke: not reached, tried again later.
            await job.api.callback_attempt_report(call_id=start.call_id, call_token=start.call_token,
                                                  result="no_answer", detail="Hung up as soon as it was answered.")
            return
        logger.info("callback call %s answered by: %s (speech %.1f s)", start.call_id, detection.answered.value,
                    detection.speech_seconds)
        if detection.answered is Answered.MACHINE:
            await self._leave_message(start, detection)
        else:
            await job.api.callback_attempt_report(call_id=start.call_id, call_token=start.call_token,
                                                  result="answered", detail=f"{detection.answered.value} answered")
            await job.start(start)

    async def _detect(self, tap: AudioTap) -> Detection | None:
        job = self.job
        detection = asyncio.ensure_future(detect(tap.frames(), vad=job.ctx.proc.userdata.get("vad")))
        try:
            await job.presence.unless_gone(detection)
        except CallerGone:
            detection.cancel()
            return None
        return detection.result()

    async def _leave_message(self, start: CallStart, detection: Detection) -> None:
        """The greeting has ended: the message (not recorded: nobody is on the line to hear a
        disclosure), the hang-up, the result."""
        job = self.job
        message = start.config.callback.voicemail_message
        config = start.config.model_copy(update={"greeting": "", "recording": RecordingConfig()})
        await job.start(CallStart(call_id=start.call_id, call_token=start.call_token, config=config))
        if job.session is None or job.call is None or job.call.over:
            return
        await call_actions.say_and_wait(job.session, message)
        job.call.settle(outcome=Outcome.OTHER, end_reason=VOICEMAIL_END_REASON)
        await job.api.callback_attempt_report(
            call_id=start.call_id, call_token=start.call_token, result="voicemail",
            detail=f"A {detection.speech_seconds:.0f} s greeting; the message was left.")
        await call_actions.hang_up(job.call)
        job.ctx.shutdown(reason="voicemail message left")

    async def _not_reached(self, start: CallStart, dialled: DialResult) -> None:
        code = f" (SIP {dialled.sip_status_code})" if dialled.sip_status_code else ""
        detail = f"{dialled.outcome.value}{code} after {dialled.rang_seconds:.0f} s"
        if dialled.outcome is DialOutcome.FAILED and dialled.detail:
            detail = f"{detail}: {dialled.detail}"
        await self.job.api.callback_attempt_report(call_id=start.call_id, call_token=start.call_token,
                                                   result=RESULT_OF_DIAL[dialled.outcome], detail=detail)
        await self._end(reason=f"callback not reached: {dialled.outcome.value}")

    async def _end(self, *, reason: str) -> None:
        ctx = self.job.ctx
        try:
            await ctx.api.room.delete_room(api.DeleteRoomRequest(room=ctx.room.name))
        except Exception as exc:  # the room empties and goes by itself
            logger.info("room %s not deleted: %s", ctx.room.name, exc)
        if self.job.api is not None:
            await self.job.api.aclose()
        ctx.shutdown(reason=reason)

