"""What happens to the call beyond words: transferring the caller, hanging up, and the watchdog's
warnings and time-up. Used by the agent's tools and by the watchdog, so a forced transfer at T−0 and a
transfer the caller asked for behave the same.

Sentences the worker says itself are fixed here; the API's `message` is preferred wherever there is
one (it is written in the tenant's words).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from livekit.agents import AgentSession, ErrorEvent

from core.call_contract import Outcome
from core.call_phrases import PHRASES
from voiceworker import warm_transfer
from voiceworker.api_client import ToolReply
from voiceworker.call_control import Transfer, TransferResult
from voiceworker.call_state import APOLOGY_TIMEOUT_SECONDS, CallState

logger = logging.getLogger("soniq.voiceworker")

# The English of the worker's own sentences (core/call_phrases.py); a call says them in its
# tenant's language (`CallState.phrase`).
TRANSFER_ANNOUNCEMENT = PHRASES["transfer_announcement"]
GOODBYE = PHRASES["goodbye"]
TIME_LIMIT_REASON = "The call reached its maximum length."
SAY_AGAIN = PHRASES["say_again"]
FAILURE_APOLOGY = PHRASES["failure_apology"]
STILL_THERE = PHRASES["still_there"]
NO_RESPONSE_GOODBYE = PHRASES["no_response_goodbye"]
NO_RESPONSE_REASON = "No response from the caller."
# Failed turns in a row (the model failed or timed out) before the apology and the hang-up.
MAX_FAILED_TURNS = 2
# "Are you still there?" this many times, then goodbye.
MAX_STILL_THERE_PROMPTS = 2
# After a transfer that the server reported as still ringing: how long beyond the business's ringing
# timeout to wait for the caller's leg to leave (the transfer completed) before treating it as failed.
ONGOING_TRANSFER_MARGIN_SECONDS = 5.0
# The sentence a caller hears at once when a transfer comes back, by how it ended.
TRANSFER_ENDED_PHRASES = {"busy": "transfer_busy", "declined": "transfer_declined", "no_answer": "transfer_no_answer"}
SIP_HEADER_VALUE_MAX = 200


async def say_and_wait(session: AgentSession, text: str) -> None:
    """Say `text` and return once it has played (the caller heard it), not merely been queued."""
    try:
        await session.say(text, allow_interruptions=False)
    except RuntimeError:
        logger.info("could not say %r: the session is closing", text)


async def hang_up(call: CallState, *, after_speech: bool = True) -> None:
    """Delete the room. After speech, a short grace first: `wait_for_playout` returns once the
    local 200 ms audio queue has drained into WebRTC, while the last 0.1-0.5 s are still being
    encoded, sent, and buffered by the SIP gateway; deleting the room at once clips them."""
    call.end()
    if call.room_deleted:
        return
    if after_speech and call.hang_up_grace > 0:
        await asyncio.sleep(call.hang_up_grace)
    call.room_deleted = True
    await call.control.hang_up()


async def transfer_caller(session: AgentSession, call: CallState, *, transfer_to: str, request: dict[str, Any],
                          announcement: str) -> ToolReply | None:
    """Announce and do the cold transfer that `request` (the transfer_to_human body) obtained.
    Returns None once the caller is with a person. If the transfer failed (busy, declined, not
    answered within the business's ringing timeout), the caller hears a fixed sentence at once —
    nothing waits on the model — while the same request goes to the API again marked
    `transfer_failed`, which queues a callback or asks for a message (the business's choice): its
    answer is returned for the model to carry on with (ok=False when it failed).

    From the announcement on, the caller is on their way: no new LLM turn starts (`SoniqAgent`), no
    second transfer, and the SIP side plays a dial tone while the REFER rings. Every attempt goes
    into the call log (`CallRecorder.add_transfer_attempt`).
    A business that chose warm transfers gets voiceworker/warm_transfer.py instead (phone calls only)."""
    if call.config.transfer.mode == "warm" and call.room_line is not None:
        return await warm_transfer.transfer_warm(session, call, line=call.room_line, transfer_to=transfer_to,
                                                 request=request, announcement=announcement)
    reason = str(request.get("reason") or "")
    call.transferring, call.transfer_target, call.transfer_reason = True, transfer_to, reason
    await say_and_wait(session, announcement)
    ringing_timeout = float(call.config.transfer.ringing_timeout_seconds)
    started = time.time()
    result = await call.control.transfer(transfer_to, ringing_timeout=ringing_timeout,
                                         headers=transfer_headers(call, reason=reason))
    if result.status is Transfer.ONGOING:
        # The server stopped waiting before the transfer did; it completes when the caller's leg
        # leaves the room. Bounded by the business's ringing timeout, as the REFER itself is.
        try:
            async with asyncio.timeout(max(ringing_timeout - (time.time() - started), 0.0) + ONGOING_TRANSFER_MARGIN_SECONDS):
                await call.caller_gone.wait()
            result = TransferResult(Transfer.COMPLETED)
        except TimeoutError:
            result = TransferResult(Transfer.FAILED, ended="no_answer")
    call.recorder.add_transfer_attempt(target=transfer_to, started_at=started, ended_at=time.time(),
                                       outcome=result.ended, sip_status=result.sip_status)
    if result.status is Transfer.COMPLETED:
        call.settle(outcome=Outcome.TRANSFERRED, end_reason=reason, transferred_to=transfer_to)
        # The caller's leg now belongs to the transfer target; deleting the room ends the job and
        # cannot touch the transferred call.
        await hang_up(call, after_speech=False)
        return None
    call.transferring = False
    logger.warning("call %s: transfer to %s ended %s, falling back to the business's %s", call.call_id, transfer_to,
                   result.ended, call.config.transfer.fallback)
    # The fallback's request runs while the caller hears why they are back with the agent.
    fallback = asyncio.create_task(call.run_tool_recorded(
        "transfer_to_human", {**request, "transfer_failed": True}))
    await say_and_wait(session, call.phrase(TRANSFER_ENDED_PHRASES.get(result.ended, "transfer_failed")))
    reply = await fallback
    return reply or ToolReply(ok=False, status=0, error_code="unavailable",
                              message="The transfer did not go through and the callback could not be queued.")


def transfer_headers(call: CallState, *, reason: str) -> dict[str, str]:
    """What the person who picks up is told before they do, as SIP headers on the REFER (a carrier
    that passes X- headers shows or announces them): why the caller called, and who is calling. A
    header value is one line of printable text: whatever the caller said cannot inject a header."""
    headers = {"X-Soniq-Reason": _header_value(reason) or "not given"}
    if call.config.caller_number:
        headers["X-Soniq-Caller"] = _header_value(call.config.caller_number)
    return headers


def _header_value(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:SIP_HEADER_VALUE_MAX]


async def warn(session: AgentSession, call: CallState, *, seconds_left: int, final: bool) -> None:
    """A spoken warning, phrased by the model so it fits the conversation and its language."""
    if call.over:
        return
    if final:
        instructions = (f"The call will be ended automatically in about {seconds_left} seconds. Tell the caller so "
                        "in one short sentence and help them wrap up: confirm what is done, or offer a callback.")
    else:
        minutes = max(round(seconds_left / 60), 1)
        instructions = (f"This call can last about {minutes} more minute{'s' if minutes != 1 else ''}. Tell the "
                        "caller so in one short, friendly sentence, then carry on where you left off.")
    try:
        session.generate_reply(instructions=instructions, tool_choice="none")
    except RuntimeError:
        logger.info("call %s: could not give the time warning, the session is closing", call.call_id)


async def time_up(session: AgentSession, call: CallState) -> None:
    """T−0: a forced transfer when someone can take the call, otherwise a goodbye, a callback
    request and a hang-up."""
    if call.over:
        return
    try:
        session.interrupt(force=True)
    except RuntimeError:
        pass
    request = {"reason": TIME_LIMIT_REASON}
    reply = await call.run_tool_recorded("transfer_to_human", request)
    if reply is not None and reply.ok and reply.result.get("action") == "transfer":
        reply = await transfer_caller(session, call, transfer_to=str(reply.result.get("transfer_to", "")),
                                      request=request, announcement=call.phrase("time_up_transfer"))
        if reply is None:
            return
    callback_queued = reply is not None and reply.ok and reply.result.get("action") == "callback"
    closing = reply.message if callback_queued and reply.message else call.phrase("time_up_no_callback")
    await say_and_wait(session, f"{call.phrase('time_up_goodbye')} {closing} {call.phrase('goodbye_word')}")
    outcome = Outcome.CALLBACK if callback_queued else Outcome.OTHER
    call.settle(outcome=outcome, end_reason=TIME_LIMIT_REASON)
    # Hang up first: the caller has heard the goodbye, the API's record of it can wait.
    await hang_up(call)
    await call.run_tool_recorded("end_call", {"reason": TIME_LIMIT_REASON, "outcome": outcome})


async def apologise_and_end(session: AgentSession, call: CallState, *, end_reason: str,
                            can_speak: bool = True) -> None:
    """A failure the call cannot recover from: the fixed apology (when the voice still works),
    then the hang-up, and the failure named in the call's log."""
    if call.over:
        return
    call.settle(outcome=call.recorder.inferred_outcome(), end_reason=end_reason[:500])
    call.end()
    if can_speak:
        try:
            session.interrupt(force=True)
        except RuntimeError:
            pass
        try:
            async with asyncio.timeout(APOLOGY_TIMEOUT_SECONDS):
                await say_and_wait(session, call.phrase("failure_apology"))
        except TimeoutError:
            logger.warning("call %s: the apology did not play in time", call.call_id)
    await hang_up(call, after_speech=can_speak)


def answered(call: CallState, text: str) -> bool:
    """Whether an agent message carries words of the model's, not only the worker's fillers and
    its "could you say that again?"."""
    rest = text.strip()
    for key in ("filler", "still_thinking", "say_again"):
        rest = rest.replace(call.phrase(key), "").strip()
    return bool(rest)


class ProviderFailures:
    """Listens to the session's `error` events. A turn the model could not answer (an outage, a
    429, a timeout) gets "Sorry, could you say that again?"; `MAX_FAILED_TURNS` in a row, or a
    failed transcriber, get the apology and the hang-up; a failed voice gets the hang-up at once.
    All of it before the session's own error close, which would leave the line open and silent."""

    def __init__(self, session: AgentSession, call: CallState, *, max_failed_turns: int = MAX_FAILED_TURNS):
        self.session = session
        self.call = call
        self.max_failed_turns = max_failed_turns
        self.failed_turns = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def attach(self) -> None:
        self.session.on("error", self.on_error)
        self.session.on("conversation_item_added", self._on_item)

    def _on_item(self, event: Any) -> None:
        item = event.item
        if getattr(item, "role", None) == "assistant" and answered(self.call, item.text_content or ""):
            self.failed_turns = 0  # the model answered

    def on_error(self, event: ErrorEvent) -> None:
        error = event.error
        if getattr(error, "recoverable", True) or self.call.over:
            return
        kind = getattr(error, "type", "")
        cause = getattr(error, "error", error)
        if kind == "tts_error":
            self._spawn(apologise_and_end(self.session, self.call, can_speak=False,
                                          end_reason=f"The agent failed: the voice (TTS) failed: {cause}"))
        elif kind == "stt_error":
            self._spawn(apologise_and_end(self.session, self.call,
                                          end_reason=f"The agent failed: speech recognition (STT) failed: {cause}"))
        elif kind == "llm_error":
            self.failed_turns += 1
            if self.failed_turns >= self.max_failed_turns:
                self._spawn(apologise_and_end(self.session, self.call,
                                              end_reason=f"The agent failed: the language model (LLM) failed: {cause}"))
            else:
                try:
                    self.session.say(self.call.phrase("say_again"))
                except RuntimeError:
                    pass

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class UserAway:
    """A silent, off-hook caller (the session marked them away after `user_away_timeout`): "Are
    you still there?" up to `MAX_STILL_THERE_PROMPTS` times, `user_away_timeout` apart, then a
    goodbye and the hang-up, outcome other. Instead of the forced transfer at T-0 a silent line
    used to get. The session marks the caller away once; they stay away until they speak."""

    def __init__(self, session: AgentSession, call: CallState, *, max_prompts: int = MAX_STILL_THERE_PROMPTS):
        self.session = session
        self.call = call
        self.max_prompts = max_prompts
        self._back = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        self.session.on("user_state_changed", self.on_user_state)

    def on_user_state(self, event: Any) -> None:
        if event.new_state != "away":
            self._back.set()
            return
        if self.call.over or self.call.transferring or (self._task is not None and not self._task.done()):
            return
        self._back.clear()
        self._task = asyncio.create_task(self._while_away())

    async def _while_away(self) -> None:
        wait = self.session.options.user_away_timeout or 10.0
        for _ in range(self.max_prompts):
            await say_and_wait(self.session, self.call.phrase("still_there"))
            try:
                await asyncio.wait_for(self._back.wait(), wait)
                return  # they spoke
            except TimeoutError:
                pass
            if self.call.over or self.call.transferring:
                return
        self.call.settle(outcome=Outcome.OTHER, end_reason=NO_RESPONSE_REASON)
        self.call.end()
        await say_and_wait(self.session, self.call.phrase("no_response_goodbye"))
        await hang_up(self.call)


# After the last key press, how long the keypad waits for another before it takes what was typed.
KEYPAD_DIGIT_TIMEOUT_SECONDS = 2.0
KEYPAD_OPERATOR_REASON = "The caller pressed {key} on the keypad to reach a person."


class Keypad:
    """Key presses on the caller's phone (RFC 2833 DTMF, the room's `sip_dtmf_received`). Keys are
    collected until "#" or `digit_timeout` without another: the tenant's operator key alone (the
    config's `keypad.operator_key`, AgentSettings.keypad_operator_key, "0" by default) reaches a person the way transfer_to_human does
    (or queues a callback when nobody takes transfers, and the caller hears the API's sentence);
    anything else — a phone number, a booking reference typed when the agent asked for one —
    reaches the model as the caller's words."""

    def __init__(self, session: AgentSession, call: CallState, *,
                 digit_timeout: float = KEYPAD_DIGIT_TIMEOUT_SECONDS):
        self.session = session
        self.call = call
        self.digit_timeout = digit_timeout
        self.operator_key = call.config.keypad.operator_key
        self._typed = ""
        self._timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def attach(self, room: Any) -> None:
        room.on("sip_dtmf_received", self.on_dtmf)

    def on_dtmf(self, dtmf: Any) -> None:
        if self.call.over or self.call.transferring:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if dtmf.digit == "#" and (self._typed or self.operator_key != "#"):
            # "#" ends what was typed; alone, it is nothing — unless it is the business's operator key.
            self._take()
            return
        self._typed += str(dtmf.digit)
        self._timer = asyncio.get_running_loop().call_later(self.digit_timeout, self._take)

    def _take(self) -> None:
        typed, self._typed = self._typed, ""
        if not typed or self.call.over or self.call.transferring:
            return
        if typed == self.operator_key:
            task = asyncio.create_task(self.reach_a_person())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        try:
            self.session.generate_reply(user_input=self.call.phrase("keypad_digits").format(digits=typed))
        except RuntimeError:
            logger.info("call %s: typed digits after the session closed", self.call.call_id)

    async def reach_a_person(self) -> None:
        try:
            self.session.interrupt(force=True)
        except RuntimeError:
            pass
        request = {"reason": KEYPAD_OPERATOR_REASON.format(key=self.operator_key)}
        reply = await self.call.run_tool_recorded("transfer_to_human", request)
        if reply is not None and reply.ok and reply.result.get("action") == "transfer":
            reply = await transfer_caller(self.session, self.call, transfer_to=str(reply.result.get("transfer_to", "")),
                                          request=request,
                                          announcement=reply.message or self.call.phrase("transfer_announcement"))
            if reply is None:
                return  # with a person now
        if reply is not None and reply.message:
            # A callback queued (nobody takes transfers now, or the transfer failed): the API's
            # sentence says when to expect it; the conversation goes on.
            await say_and_wait(self.session, reply.message)
        elif reply is None or not reply.ok:
            await say_and_wait(self.session, self.call.phrase("say_again"))
