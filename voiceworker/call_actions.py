"""What happens to the call beyond words: transferring the caller, hanging up, and the watchdog's
warnings and time-up. Used by the agent's tools and by the watchdog, so a forced transfer at T−0 and a
transfer the caller asked for behave the same.

Sentences the worker says itself are fixed here; the API's `message` is preferred wherever there is
one (it is written in the tenant's words).
"""
from __future__ import annotations

import logging
from typing import Any

from livekit.agents import AgentSession

from voiceworker.api_client import ToolReply
from voiceworker.call_state import CallState

logger = logging.getLogger("soniq.voiceworker")

FILLERS = {
    "en": "One moment.",
    "de": "Einen Moment bitte.",
    "fr": "Un instant.",
    "es": "Un momento.",
    "it": "Un attimo.",
    "pt": "Um momento.",
    "nl": "Een moment.",
}
TRANSFER_ANNOUNCEMENT = "Please hold while I transfer you."
GOODBYE = "Thank you for calling. Goodbye!"
TIME_LIMIT_REASON = "The call reached its maximum length."
TIME_UP_TRANSFER = "We've reached the time limit for this call, so I'm transferring you to a colleague now."
TIME_UP_GOODBYE = "I'm sorry, we've reached the time limit for this call."
TIME_UP_NO_CALLBACK = "Please call us again if there is anything else."


def filler_for(language: str) -> str:
    return FILLERS.get(language.split("-")[0].lower(), FILLERS["en"])


async def say_and_wait(session: AgentSession, text: str) -> None:
    """Say `text` and return once it has played (the caller heard it), not merely been queued."""
    try:
        await session.say(text, allow_interruptions=False)
    except RuntimeError:
        logger.info("could not say %r: the session is closing", text)


async def hang_up(call: CallState) -> None:
    call.over = True
    await call.control.hang_up()


async def transfer_caller(session: AgentSession, call: CallState, *, transfer_to: str, request: dict[str, Any],
                          announcement: str) -> ToolReply | None:
    """Announce and do the cold transfer that `request` (the transfer_to_human body) obtained.
    Returns None once the caller is with a person. If the transfer failed, the same request goes to
    the API again marked `transfer_failed`, which queues a callback: its answer is returned for the
    caller to hear (ok=False when not even the callback could be queued)."""
    await say_and_wait(session, announcement)
    reason = str(request.get("reason") or "")
    if await call.control.transfer(transfer_to):
        call.settle(outcome="transferred", end_reason=reason, transferred_to=transfer_to)
        # The caller's leg now belongs to the transfer target; deleting the room ends the job and
        # cannot touch the transferred call.
        await hang_up(call)
        return None
    logger.warning("call %s: transfer to %s failed, queueing a callback", call.call_id, transfer_to)
    reply = await call.run_tool_recorded("transfer_to_human", {**request, "transfer_failed": True})
    return reply or ToolReply(ok=False, status=0, error_code="unavailable",
                              message="The transfer did not go through and the callback could not be queued.")


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
                                      request=request, announcement=TIME_UP_TRANSFER)
        if reply is None:
            return
    callback_queued = reply is not None and reply.ok and reply.result.get("action") == "callback"
    closing = reply.message if callback_queued and reply.message else TIME_UP_NO_CALLBACK
    await say_and_wait(session, f"{TIME_UP_GOODBYE} {closing} Goodbye!")
    outcome = "callback" if callback_queued else "other"
    await call.run_tool_recorded("end_call", {"reason": TIME_LIMIT_REASON, "outcome": outcome})
    call.settle(outcome=outcome, end_reason=TIME_LIMIT_REASON)
    await hang_up(call)
