"""The LiveKit job: one inbound SIP call from the moment the caller is in the room until the log is sent.

1. Wait for the SIP participant; its attributes name the dialled number, the caller and the SIP call.
2. `POST /internal/calls/start`: the call row and the tenant's config. An unknown number or an API
   that cannot be reached gets a short apology in the default voice, then the call is hung up.
3. Build the session from the config (providers in `providers.py`), start the agent, say the
   greeting, start the duration watchdog.
4. When the call ends — the agent hung up, the caller hung up, a transfer, the watchdog — the log goes
   to the API within 5 s, or to the spool (`call_logger.py`).

This module is imported by every job process (the forkserver pickles the entrypoint by module path),
so it must not import Django models: it reads settings and talks HTTP, nothing else.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import ENVIRONMENT_VARIABLE as SETTINGS_MODULE_ENV
from django.conf import settings
from livekit import rtc
from livekit.agents import AgentServer, AgentSession, CloseEvent, CloseReason, JobContext, JobProcess, room_io
from livekit.plugins import silero

from core.call_contract import Outcome
from voiceworker import call_actions, recordings
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import ApiRefused, ApiUnavailable, CallStart, SoniqApiClient, UnknownNumber
from voiceworker.call_control import CallControl, LiveKitCallControl, LoggingCallControl
from voiceworker.call_logger import CallLogger
from voiceworker.call_record import CallRecorder
from voiceworker.call_state import HANG_UP_GRACE_SECONDS, CallState
from voiceworker.providers import build_apology_session, build_session
from voiceworker.watchdog import CallWatchdog, Clock

logger = logging.getLogger("soniq.voiceworker")

UNKNOWN_NUMBER_APOLOGY = "Sorry, this number is not in service. Goodbye."
UNAVAILABLE_APOLOGY = "Sorry, we can't take your call right now. Please try again in a few minutes. Goodbye."
CALLER_HUNG_UP = "The caller hung up."
# A dispatched job whose SIP participant never joins (the caller gave up while it was routed).
CALLER_JOIN_TIMEOUT_SECONDS = 20.0
# The apology to a caller about to be hung up on: bounded (one quick TTS attempt, not a long silence).
APOLOGY_TIMEOUT_SECONDS = 5.0
# Console and simulated jobs have no SIP participant: this number plays the dialled number.
CONSOLE_NUMBER_ENV = "VOICE_CONSOLE_NUMBER"
FORKSERVER_PRELOAD = "voiceworker.forkserver_preload"


@dataclass(frozen=True)
class SipCall:
    called_number: str
    caller_number: str
    sip_call_id: str

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> SipCall:
        # LiveKit's SIP attribute names; the package exports no constants for them.
        return cls(
            called_number=attributes.get("sip.trunkPhoneNumber", ""),
            caller_number=attributes.get("sip.phoneNumber", ""),
            sip_call_id=attributes.get("sip.callID", ""),
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


def prewarm(proc: JobProcess) -> None:
    """Once per job process, before it takes a call: the VAD, and Django's settings object (its
    module is already imported by the forkserver, see `build_server`). A job process forked by the
    forkserver inherits the VAD it loaded (`forkserver_preload`); anywhere else it loads its own."""
    inherited = getattr(sys.modules.get(FORKSERVER_PRELOAD), "vad", None)
    proc.userdata["vad"] = inherited if inherited is not None else silero.VAD.load()
    settings.SONIQ_API_URL  # noqa: B018 - the access is the point


async def entrypoint(ctx: JobContext) -> None:
    if ctx.is_fake_job():
        # Console mode and simulated jobs: a mock room with a plain participant and no SIP attributes.
        participant = await ctx.wait_for_participant()
        sip_call = SipCall(called_number=os.environ.get(CONSOLE_NUMBER_ENV, ""), caller_number="",
                           sip_call_id=f"console-{ctx.job.id}")
    test_grant = "" if ctx.is_fake_job() else trial_grant_of(ctx.job.metadata)
    if test_grant:
        # A test call from the admin: the owner's browser joins the room, there is no SIP leg.
        try:
            participant = await asyncio.wait_for(
                ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD), CALLER_JOIN_TIMEOUT_SECONDS)
        except TimeoutError:
            ctx.shutdown(reason="no caller")
            return
        sip_call = SipCall(called_number="", caller_number="", sip_call_id="")
    elif not ctx.is_fake_job():
        try:
            participant = await asyncio.wait_for(
                ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP), CALLER_JOIN_TIMEOUT_SECONDS)
        except TimeoutError:
            # The caller hung up before their leg joined: no call to take, nobody to log.
            logger.warning("no SIP participant joined room %s: ending the job", ctx.room.name)
            ctx.shutdown(reason="no caller")
            return
        sip_call = SipCall.from_attributes(dict(participant.attributes))
    # From here on, a caller who hangs up ends the job within moments, whatever step it is in:
    # RoomIO's close_on_disconnect only sees a caller still present when the session starts.
    # A fake job's mock room (console mode, simulated jobs) lists no participants: only its events count.
    presence = CallerPresence(room=ctx.room, identity=participant.identity, present_now=not ctx.is_fake_job())
    presence.on_leave.append(lambda: ctx.shutdown(reason="the caller hung up"))
    control: CallControl = (LoggingCallControl() if ctx.is_fake_job() else
                            LiveKitCallControl(lkapi=ctx.api, room_name=ctx.room.name,
                                               participant_identity=participant.identity))
    api = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
    call_logger = CallLogger(api_url=settings.SONIQ_API_URL, spool_dir=settings.VOICE_SPOOL_DIR)

    start_request = asyncio.ensure_future(api.start_call(
        called_number=sip_call.called_number, caller_number=sip_call.caller_number, room=ctx.room.name,
        sip_call_id=sip_call.sip_call_id, test_grant=test_grant))

    async def close_api() -> None:
        # A call start still running (the caller left during it) is let finish, to be logged.
        await asyncio.wait({start_request}, timeout=api.timeout)
        await api.aclose()

    ctx.add_shutdown_callback(close_api)
    try:
        await presence.unless_gone(start_request)
    except CallerGone:
        # They hung up while the call was being started. The job ends now; the call row may still
        # be created, so its log (and the empty room's deletion) follow in the shutdown.
        async def log_late_start(reason: str) -> None:
            await control.hang_up()
            start = await _start_or_none(start_request)
            if start is None:
                return
            call = CallState(call_id=start.call_id, call_token=start.call_token, config=start.config, api=api,
                             control=control, room_deleted=True, ended_at=presence.left_at)
            call.recorder.started_at = presence.joined_at
            call.settle(outcome=Outcome.OTHER, end_reason=CALLER_HUNG_UP)
            await finish_call(call, call_logger=call_logger, shutdown_reason=reason)

        ctx.add_shutdown_callback(log_late_start)
        return
    except UnknownNumber:
        logger.warning("call to unknown number %r from %r: apologising and hanging up", sip_call.called_number,
                       sip_call.caller_number)
        await apologise_and_hang_up(ctx, participant, control, UNKNOWN_NUMBER_APOLOGY)
        return
    except (ApiUnavailable, ApiRefused) as exc:
        logger.error("call start failed for %r from %r, apologising and hanging up: %s", sip_call.called_number,
                     sip_call.caller_number, exc)
        await apologise_and_hang_up(ctx, participant, control, UNAVAILABLE_APOLOGY)
        return
    start = start_request.result()

    call: CallState | None = None
    session: AgentSession | None = None
    log_at_shutdown = False
    try:
        session, call = build_call(start, api=api, control=control, vad_model=ctx.proc.userdata.get("vad"))
        call.recorder.started_at = presence.joined_at
        presence.attach(call)
        watchdog = build_watchdog(session, call)
        call_actions.ProviderFailures(session, call).attach()
        call_actions.UserAway(session, call).attach()

        def on_session_close(event: CloseEvent) -> None:
            note_session_close(call, event)
            # The caller hung up (or the session failed): end the job, which sends the log.
            ctx.shutdown(reason=f"session closed: {event.reason.value}")

        session.on("close", on_session_close)

        async def send_log(reason: str) -> None:
            await end_job(call, watchdog=watchdog, call_logger=call_logger, shutdown_reason=reason)

        ctx.add_shutdown_callback(send_log)
        log_at_shutdown = True

        await session.start(
            SoniqAgent(instructions=call.config.instructions, tools_offered=call.config.tools),
            room=ctx.room,
            room_options=room_io.RoomOptions(participant_identity=participant.identity, close_on_disconnect=True),
            record=False,
        )
    except Exception as exc:
        # The caller is in the room and the call row exists: apologise, hang up, and log why.
        logger.exception("call %s: the session could not start; apologising and hanging up", start.call_id)
        if call is None:
            call = CallState(call_id=start.call_id, call_token=start.call_token, config=start.config, api=api,
                             control=control)
            call.recorder.started_at = presence.joined_at
        call.settle(outcome=Outcome.OTHER, end_reason=f"The agent failed to start: {exc!r}"[:500])
        call.end()
        if session is not None:
            await session.aclose()
        await apologise_and_hang_up(ctx, participant, control, UNAVAILABLE_APOLOGY)
        call.room_deleted = True
        if not log_at_shutdown:  # otherwise `send_log` sends it as the job ends
            await finish_call(call, call_logger=call_logger)
        return
    if call.over:
        return  # the caller left while the session started
    recordings.register(ctx, session, call)  # when the tenant records calls (voiceworker/recordings.py)
    watchdog.start()
    if call.config.greeting:
        session.say(call.config.greeting)


class CallerGone(Exception):
    pass


class CallerPresence:
    """Watches the caller's SIP leg in the room from the moment it joined. When it leaves, the call
    is over at once (`CallState.caller_left`: the watchdog stops, nothing more is said) and
    `on_leave` runs (the entrypoint ends the job)."""

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


async def _start_or_none(start_request: asyncio.Future) -> CallStart | None:
    """The call start's answer (bounded by the API client's own timeout), or None."""
    try:
        return await start_request
    except Exception:
        return None


def build_call(start: CallStart, *, api: SoniqApiClient, control: CallControl, vad_model,
               session: AgentSession | None = None) -> tuple[AgentSession, CallState]:
    """The call's state and its session (a ready-made `session` is used by tests and callsim)."""
    config = start.config
    call = CallState(call_id=start.call_id, call_token=start.call_token, config=config, api=api, control=control,
                     recorder=CallRecorder(language=config.language))
    if session is None:
        session = build_session(config, vad_model=vad_model, userdata=call)
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


async def end_job(call: CallState, *, watchdog: CallWatchdog | None, call_logger: CallLogger,
                  shutdown_reason: str = "") -> bool:
    """The job's last step, whatever ended it: stop the watchdog, delete the room unless that is
    done (a job that ends with the caller still in the room leaves them in silence; an empty room
    would otherwise linger until LiveKit's empty timeout), send the log."""
    if watchdog is not None:
        await watchdog.stop()
    call.end()
    await call_actions.hang_up(call, after_speech=False)
    return await finish_call(call, call_logger=call_logger, shutdown_reason=shutdown_reason)


async def finish_call(call: CallState, *, call_logger: CallLogger, shutdown_reason: str = "") -> bool:
    """Send the call's log (bounded; spooled on failure). The metadata is always there: how the call
    ended is settled here if nothing else did."""
    call.settle(outcome=call.recorder.inferred_outcome(),
                end_reason=f"The call ended ({shutdown_reason})." if shutdown_reason else "The call ended.")
    log = call.recorder.build_log(outcome=call.outcome, end_reason=call.end_reason, transferred_to=call.transferred_to,
                                  ended_at=call.ended_at)
    return await call_logger.deliver(call_id=call.call_id, call_token=call.call_token, log=log)


async def apologise_and_hang_up(ctx: JobContext, participant: rtc.RemoteParticipant, control: CallControl,
                                apology: str) -> None:
    try:
        session = build_apology_session(vad_model=ctx.proc.userdata.get("vad"))
        async with asyncio.timeout(APOLOGY_TIMEOUT_SECONDS):
            await session.start(SoniqAgent(instructions="", tools_offered=[]), room=ctx.room,
                                room_options=room_io.RoomOptions(participant_identity=participant.identity,
                                                                 text_input=False),
                                record=False)
            await session.say(apology, allow_interruptions=False)
        await asyncio.sleep(HANG_UP_GRACE_SECONDS)
    except Exception:
        # A broken voice must not keep the line open.
        logger.exception("could not say the apology; hanging up anyway")
    finally:
        await control.hang_up()
        ctx.shutdown(reason="call refused")


def build_server(*, job_entrypoint: Callable[[JobContext], Awaitable[None]] | None = None) -> AgentServer:
    """The worker: explicit dispatch to `VOICE_AGENT_NAME`, and what the forkserver preloads so each
    job process starts in milliseconds and shares what it can: this module, `forkserver_preload`
    (the Silero VAD and a warmed LLM request path, which each job process used to build for itself:
    bench/call_start.py measured private memory per call 57 -> 41 MB, a call's first LLM request
    112 -> ~33 ms) and the settings module (the module the job processes' lazy settings load: they
    inherit this environment). See docs/BENCHMARKS.md."""
    preload_modules = ["voiceworker.entrypoint", FORKSERVER_PRELOAD]
    if settings_module := os.environ.get(SETTINGS_MODULE_ENV):
        preload_modules.append(settings_module)
    # How full the worker tells LiveKit it is (calls against the measured capacity, and CPU), and
    # how long a SIGTERM waits for live calls: voiceworker/capacity.py.
    from voiceworker.capacity import LOAD_THRESHOLD, Capacity, load_function

    capacity = Capacity.from_env()
    server = AgentServer(
        setup_fnc=prewarm,
        preload_modules=preload_modules,
        ws_url=settings.LIVEKIT_URL or None,
        api_key=settings.LIVEKIT_API_KEY or None,
        api_secret=settings.LIVEKIT_API_SECRET or None,
        load_fnc=load_function(capacity),
        load_threshold=LOAD_THRESHOLD,
        drain_timeout=capacity.drain_timeout,
        # The health and metrics port: two workers on one host need two ports (0 = any free one).
        port=settings.VOICE_HEALTH_PORT,
    )
    # `job_entrypoint`: bench/call_start.py wraps the entrypoint (it must be importable by path).
    server.rtc_session(job_entrypoint or entrypoint, agent_name=settings.VOICE_AGENT_NAME)
    return server
