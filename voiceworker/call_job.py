"""One call's life (an inbound SIP call, or an owner's test call from the browser), from the moment
the caller is in the room until its log is sent:
`CallJob.run()` = `wait_for_caller()`, then `start()`, and one `finish(reason)` — registered once
as the job's shutdown callback, idempotent — however the call ends.

1. `wait_for_caller`: the SIP participant; its attributes name the dialled number, the caller and
   the SIP call. A test call has a platform-signed grant in the job's metadata and a browser (a
   standard participant, no SIP attributes) as the caller. From then on `CallerPresence` ends the
   job within moments of the caller hanging up, whatever step it is in.
2. `start`: `POST /internal/calls/start` (the call row and the tenant's config). An unknown number
   or an API that cannot be reached gets a short apology in the default voice, then the hang-up.
   Then the session from the config (providers in `providers.py`), the agent, and at the caller's
   answer the recording (when the tenant records calls), the duration watchdog and the greeting.
3. `finish`: the agent hung up, the caller hung up (also while the call was being started), a
   transfer, the watchdog, a session that failed — the room is deleted unless it is, and the log
   goes to the API within 5 s, or to the spool (`call_logger.py`).

Imported by every job process: no Django models; settings and HTTP only.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from livekit import rtc
from livekit.agents import AgentSession, CloseEvent, CloseReason, JobContext, room_io

from core.call_contract import Outcome
from voiceworker import call_actions, recordings
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import ApiRefused, ApiUnavailable, CallStart, SoniqApiClient, UnknownNumber
from voiceworker.call_control import CallControl, LiveKitCallControl, LoggingCallControl
from voiceworker.call_logger import CallLogger
from voiceworker.call_record import CallRecorder
from voiceworker.call_state import APOLOGY_TIMEOUT_SECONDS, CALLER_HUNG_UP, HANG_UP_GRACE_SECONDS, CallState
from voiceworker.presence import CALL_STATUS, CallerGone, CallerPresence
from voiceworker.providers import build_apology_session, build_session
from voiceworker.warm_transfer import RoomLine
from voiceworker.watchdog import CallWatchdog, Clock

logger = logging.getLogger("soniq.voiceworker")

UNKNOWN_NUMBER_APOLOGY = "Sorry, this number is not in service. Goodbye."
UNAVAILABLE_APOLOGY = "Sorry, we can't take your call right now. Please try again in a few minutes. Goodbye."
# A dispatched job whose SIP participant never joins (the caller gave up while it was routed).
CALLER_JOIN_TIMEOUT_SECONDS = 20.0
# The bridge answers once the agent's audio track is published; past this, greet anyway.
ANSWER_TIMEOUT_SECONDS = 10.0
# Console and simulated jobs have no SIP participant: this number plays the dialled number.
CONSOLE_NUMBER_ENV = "VOICE_CONSOLE_NUMBER"


@dataclass(frozen=True)
class SipCall:
    called_number: str
    caller_number: str
    sip_call_id: str
    # The carrier's own Call-ID (`sip.callIDFull`), and whether the call still rings (`sip.callStatus`).
    sip_call_id_full: str = ""
    call_status: str = ""

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> SipCall:
        # LiveKit's SIP attribute names; the package exports no constants for them.
        return cls(
            called_number=attributes.get("sip.trunkPhoneNumber", ""),
            caller_number=attributes.get("sip.phoneNumber", ""),
            sip_call_id=attributes.get("sip.callID", ""),
            sip_call_id_full=attributes.get("sip.callIDFull", ""),
            call_status=attributes.get(CALL_STATUS, ""),
        )


def trial_grant_of(job_metadata: str) -> str:
    """A test call's grant: the admin dispatches the agent into a browser's room with
    {"test_grant": "<signed>"} as the job's metadata (voiceapi/trial_calls.py). The worker does not
    read it; the API verifies it and names the business."""
    try:
        metadata = json.loads(job_metadata or "{}")
    except ValueError:
        return ""
    grant = metadata.get("test_grant") if isinstance(metadata, dict) else None
    return grant if isinstance(grant, str) else ""


def callback_grant_of(job_metadata: str) -> str:
    """A callback's grant: the platform dispatches the agent into a new room with
    {"callback_grant": "<signed>"} as the job's metadata (calls/callback_dialing.py)."""
    try:
        metadata = json.loads(job_metadata or "{}")
    except ValueError:
        return ""
    grant = metadata.get("callback_grant") if isinstance(metadata, dict) else None
    return grant if isinstance(grant, str) else ""


class CallJob:
    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self.participant: rtc.RemoteParticipant | None = None
        self.sip_call: SipCall | None = None
        # A test call's grant (the owner trying their agent from the browser); empty for a phone call.
        self.test_grant = ""
        self.presence: CallerPresence | None = None
        self.control: CallControl | None = None
        self.api: SoniqApiClient | None = None
        self.call_logger: CallLogger | None = None
        self.start_request: asyncio.Future[CallStart] | None = None
        # The caller hung up while the call was being started: the call row may still be created,
        # and `finish` logs it.
        self.left_during_start = False
        self.call: CallState | None = None
        self.session: AgentSession | None = None
        self.watchdog: CallWatchdog | None = None
        self._finished = False

    async def run(self) -> None:
        if not await self.wait_for_caller():
            return
        start = await self.start_call()
        if start is not None:
            await self.start(start)

    async def wait_for_caller(self) -> bool:
        """The caller's leg in the room, and everything that lives as long as it does. False when
        nobody joined (the job is ended: no call to take, nobody to log)."""
        ctx = self.ctx
        if ctx.is_fake_job():
            # Console mode and simulated jobs: a mock room with a plain participant and no SIP attributes.
            self.participant = await ctx.wait_for_participant()
            self.sip_call = SipCall(called_number=os.environ.get(CONSOLE_NUMBER_ENV, ""), caller_number="",
                                    sip_call_id=f"console-{ctx.job.id}")
        self.test_grant = "" if ctx.is_fake_job() else trial_grant_of(ctx.job.metadata)
        if self.test_grant:
            # A test call from the admin: the owner's browser joins the room, there is no SIP leg (and
            # no `sip.callStatus`: the browser is "answered" when it joins).
            try:
                self.participant = await asyncio.wait_for(
                    ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD),
                    CALLER_JOIN_TIMEOUT_SECONDS)
            except TimeoutError:
                ctx.shutdown(reason="no caller")
                return False
            self.sip_call = SipCall(called_number="", caller_number="", sip_call_id="")
        elif not ctx.is_fake_job():
            try:
                self.participant = await asyncio.wait_for(
                    ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP),
                    CALLER_JOIN_TIMEOUT_SECONDS)
            except TimeoutError:
                # The caller hung up before their leg joined.
                logger.warning("no SIP participant joined room %s: ending the job", ctx.room.name)
                ctx.shutdown(reason="no caller")
                return False
            self.sip_call = SipCall.from_attributes(dict(self.participant.attributes))
        self.attach_caller()
        return True

    def attach_caller(self) -> None:
        """What lives as long as the caller's leg (`self.participant`, `self.sip_call`): their presence
        (the job ends within moments of their hang-up), the call control, the API client and the
        logger, and `finish` as the job's shutdown callback. Also for the customer of a callback the
        agent dialled (voiceworker/callback_call.py), once they answered."""
        ctx = self.ctx
        # RoomIO's close_on_disconnect only sees a caller still present when the session starts.
        # A fake job's mock room (console mode, simulated jobs) lists no participants: only its events count.
        self.presence = CallerPresence(room=ctx.room, identity=self.participant.identity,
                                       present_now=not ctx.is_fake_job(), call_status=self.sip_call.call_status)
        self.presence.on_leave.append(lambda: ctx.shutdown(reason="the caller hung up"))
        self.control = (LoggingCallControl() if ctx.is_fake_job() else
                        LiveKitCallControl(lkapi=ctx.api, room_name=ctx.room.name,
                                           participant_identity=self.participant.identity))
        if self.api is None:
            self.api = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
        self.call_logger = CallLogger(api_url=settings.SONIQ_API_URL, spool_dir=settings.VOICE_SPOOL_DIR)
        ctx.add_shutdown_callback(self.finish)

    async def start_call(self) -> CallStart | None:
        """The call row and the tenant's config; None when there is no call to run (the caller
        left meanwhile, or the call was refused: apologised for and hung up)."""
        sip_call = self.sip_call
        self.start_request = asyncio.ensure_future(self.api.start_call(
            called_number=sip_call.called_number, caller_number=sip_call.caller_number, room=self.ctx.room.name,
            sip_call_id=sip_call.sip_call_id, test_grant=self.test_grant))
        try:
            await self.presence.unless_gone(self.start_request)
        except CallerGone:
            # The job ends now (the presence asked for it); `finish` logs the call if its row appears.
            self.left_during_start = True
            return None
        except UnknownNumber:
            logger.warning("call to unknown number %r from %r: apologising and hanging up", sip_call.called_number,
                           sip_call.caller_number)
            await self.apologise_and_hang_up(UNKNOWN_NUMBER_APOLOGY)
            return None
        except (ApiUnavailable, ApiRefused) as exc:
            logger.error("call start failed for %r from %r, apologising and hanging up: %s", sip_call.called_number,
                         sip_call.caller_number, exc)
            await self.apologise_and_hang_up(UNAVAILABLE_APOLOGY)
            return None
        return self.start_request.result()

    async def start(self, start: CallStart) -> None:
        """The session, the agent, the watchdog and the greeting. A session that cannot start gets
        the apology and the hang-up, and the log says why."""
        ctx = self.ctx
        try:
            self.session, self.call = build_call(start, api=self.api, control=self.control,
                                                 vad_model=ctx.proc.userdata.get("vad"),
                                                 started_at=self.presence.joined_at, sip_call=self.sip_call)
            call, session = self.call, self.session
            self.presence.attach(call)
            if not ctx.is_fake_job() and not self.test_grant:
                call.room_line = RoomLine(
                    room=ctx.room, lkapi=ctx.api, caller_identity=self.participant.identity,
                    own_number=self.sip_call.called_number, caller_number=self.sip_call.caller_number,
                    leave=lambda: ctx.shutdown(reason="warm transfer: the caller is with a person"))
            self.watchdog = build_watchdog(session, call)
            call_actions.ProviderFailures(session, call).attach()
            call_actions.UserAway(session, call).attach()
            call_actions.Keypad(session, call).attach(ctx.room)

            def on_session_close(event: CloseEvent) -> None:
                note_session_close(call, event)
                # The caller hung up (or the session failed): end the job, which sends the log.
                ctx.shutdown(reason=f"session closed: {event.reason.value}")

            session.on("close", on_session_close)
            await session.start(
                SoniqAgent(instructions=call.config.instructions, tools_offered=call.config.tools),
                room=ctx.room,
                room_options=room_io.RoomOptions(participant_identity=self.participant.identity,
                                                 close_on_disconnect=True),
                record=False,
            )
        except Exception as exc:
            # The caller is in the room and the call row exists: apologise, hang up, and log why.
            logger.exception("call %s: the session could not start; apologising and hanging up", start.call_id)
            if self.call is None:
                self.call = new_call_state(start, api=self.api, control=self.control,
                                           started_at=self.presence.joined_at, sip_call=self.sip_call)
            self.call.settle(outcome=Outcome.OTHER, end_reason=f"The agent failed to start: {exc!r}"[:500])
            self.call.end()
            if self.session is not None:
                await self.session.aclose()
            await self.apologise_and_hang_up(UNAVAILABLE_APOLOGY)
            self.call.room_deleted = True
            return
        session, call = self.session, self.call
        await greet(session, call, presence=self.presence, watchdog=self.watchdog,
                    # When the tenant records calls (voiceworker/recordings.py): from the answer, so
                    # the recording and the transcript share one clock and the disclosure (the
                    # greeting's first sentence) is on it.
                    before_greeting=lambda: recordings.register(ctx, session, call))

    async def finish(self, reason: str = "") -> None:
        """The job's one ending, whatever ended it (the job's shutdown callback): a call that has
        its state gets its room deleted unless that is done (a job that ends with the caller still
        in the room leaves them in silence; an empty room would otherwise linger until LiveKit's
        empty timeout) and its log sent. Runs once."""
        if self._finished:
            return
        self._finished = True
        if self.call is None and self.left_during_start:
            await self._log_late_start()
        if self.call is not None:
            await end_and_log(self.call, watchdog=self.watchdog, call_logger=self.call_logger, reason=reason)
        if self.api is not None:
            # A call start still running (the caller left during it) is let finish, to be logged.
            if self.start_request is not None:
                await asyncio.wait({self.start_request}, timeout=self.api.timeout)
            await self.api.aclose()

    async def _log_late_start(self) -> None:
        """The caller hung up while the call was being started: the room goes at once; the call row,
        if the start still created one, is logged as the time they were there."""
        await self.control.hang_up()
        start = await _start_or_none(self.start_request)
        if start is None:
            return
        self.call = new_call_state(start, api=self.api, control=self.control,
                                   started_at=self.presence.talk_started_at, sip_call=self.sip_call)
        self.call.room_deleted = True
        self.call.ended_at = self.presence.left_at
        self.presence.attach(self.call)  # settles it: the caller hung up

    async def apologise_and_hang_up(self, apology: str) -> None:
        """A call that cannot be taken: the apology in the default voice (bounded), then the hang-up."""
        try:
            session = build_apology_session(vad_model=self.ctx.proc.userdata.get("vad"))
            async with asyncio.timeout(APOLOGY_TIMEOUT_SECONDS):
                await session.start(SoniqAgent(instructions="", tools_offered=[]), room=self.ctx.room,
                                    room_options=room_io.RoomOptions(participant_identity=self.participant.identity,
                                                                     text_input=False),
                                    record=False)
                await session.say(apology, allow_interruptions=False)
            await asyncio.sleep(HANG_UP_GRACE_SECONDS)
        except Exception:
            # A broken voice must not keep the line open.
            logger.exception("could not say the apology; hanging up anyway")
        finally:
            await self.control.hang_up()
            self.ctx.shutdown(reason="call refused")


async def greet(session: AgentSession, call: CallState, *, presence: CallerPresence, watchdog: CallWatchdog,
                answer_timeout: float = ANSWER_TIMEOUT_SECONDS,
                before_greeting: Callable[[], object] | None = None) -> None:
    """At the caller's answer (`sip.callStatus` active), not while their phone still rings: the
    call's clock and the watchdog start, and the greeting is said — so its first syllables are
    heard and ring time is not counted as talk time. `before_greeting` runs just before (the
    recording)."""
    if not presence.answered.is_set():
        answered = asyncio.ensure_future(presence.answered.wait())
        try:
            await asyncio.wait_for(presence.unless_gone(answered), answer_timeout)
        except CallerGone:
            return
        except TimeoutError:
            logger.warning("call %s: still ringing after %.0f s; greeting anyway", call.call_id, answer_timeout)
        finally:
            answered.cancel()
    if call.over:
        return  # the caller left while the session started
    call.recorder.start_clock_at(presence.talk_started_at)
    if before_greeting is not None:
        before_greeting()
    watchdog.start()
    if call.config.greeting:
        session.say(call.config.greeting)


async def _start_or_none(start_request: asyncio.Future) -> CallStart | None:
    """The call start's answer (bounded by the API client's own timeout), or None."""
    try:
        return await start_request
    except Exception:
        return None


def new_call_state(start: CallStart, *, api: SoniqApiClient, control: CallControl,
                   started_at: float | None = None, sip_call: SipCall | None = None) -> CallState:
    """The one place a call's state is made from its start."""
    call = CallState(call_id=start.call_id, call_token=start.call_token, config=start.config, api=api,
                     control=control, recorder=CallRecorder(language=start.config.language),
                     llm_filler_delay=settings.VOICE_LLM_FILLER_SECONDS,
                     sip_call_id_full=sip_call.sip_call_id_full if sip_call is not None else "")
    if started_at is not None:
        call.recorder.start_clock_at(started_at)
    return call


def build_call(start: CallStart, *, api: SoniqApiClient, control: CallControl, vad_model,
               session: AgentSession | None = None, started_at: float | None = None,
               sip_call: SipCall | None = None) -> tuple[AgentSession, CallState]:
    """The call's state and its session (a ready-made `session` is used by tests and callsim)."""
    call = new_call_state(start, api=api, control=control, started_at=started_at, sip_call=sip_call)
    if session is None:
        session = build_session(call.config, vad_model=vad_model, userdata=call)
    else:
        session.userdata = call
    call.recorder.attach(session)
    return session, call


def build_watchdog(session: AgentSession, call: CallState, *, clock: Clock | None = None) -> CallWatchdog:
    config = call.config
    first, final = config.warnings.first_seconds, config.warnings.final_seconds

    async def first_warning() -> None:
        await call_actions.warn(session, call, seconds_left=first, final=False)

    async def final_warning() -> None:
        await call_actions.warn(session, call, seconds_left=final, final=True)

    async def time_up() -> None:
        await call_actions.time_up(session, call)

    watchdog = CallWatchdog(max_call_seconds=config.max_call_seconds,
                            first_warning_seconds=first, final_warning_seconds=final, on_first_warning=first_warning,
                            on_final_warning=final_warning, on_time_up=time_up, clock=clock)
    # It must not outlive the caller: no warning, and no forced transfer of someone who has gone.
    call.on_over.append(watchdog.cancel)
    return watchdog


def note_session_close(call: CallState, event: CloseEvent) -> None:
    if event.reason == CloseReason.PARTICIPANT_DISCONNECTED and not call.transferring:
        call.settle(outcome=call.recorder.inferred_outcome(), end_reason=CALLER_HUNG_UP)
    elif event.reason == CloseReason.ERROR:
        call.settle(outcome=call.recorder.inferred_outcome(), end_reason=f"The agent failed: {event.error}"[:500])


async def end_and_log(call: CallState, *, watchdog: CallWatchdog | None, call_logger: CallLogger,
                      reason: str = "") -> bool:
    """The end of a call that has its state: the watchdog stops, the room is deleted unless it is,
    the log is sent (`send_log`)."""
    if watchdog is not None:
        await watchdog.stop()
    call.end()
    await call_actions.hang_up(call, after_speech=False)
    return await send_log(call, call_logger=call_logger, reason=reason)


async def send_log(call: CallState, *, call_logger: CallLogger, reason: str = "") -> bool:
    """Send the call's log (bounded; spooled on failure). How the call ended is settled here if
    nothing else did. For runs that own no room (callsim, text-mode tests) this is the whole end."""
    call.settle(outcome=call.recorder.inferred_outcome(),
                end_reason=f"The call ended ({reason})." if reason else "The call ended.")
    log = call.recorder.build_log(outcome=call.outcome, end_reason=call.end_reason, transferred_to=call.transferred_to,
                                  sip_call_id_full=call.sip_call_id_full, ended_at=call.ended_at)
    return await call_logger.deliver(call_id=call.call_id, call_token=call.call_token, log=log)
