"""The voice agent: one `Agent` whose tools are described for the model and all reach the internal API
through `_api_reply()`; `_call_tool()` turns its answer into what the model reads, and the two tools
that act on the line once the API approves (transfer_to_human, end_call) do that themselves.

What the model gets back from a tool:
- success: JSON text `{"result": {...}, "message": "<a sentence it can say>"}`;
- the API said no (4xx): a `ToolError` with the API's speakable message, so the model can correct
  itself or tell the caller;
- the API failed or was slow (5xx, timeout): a `ToolError` with a short apology.
A tool call that takes longer than ~0.7 s gets a filler ("One moment.") once, so the caller does not
sit in silence.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterable, Sequence
from typing import Any, Literal

from django.conf import settings
from livekit import rtc
from livekit.agents import Agent, ModelSettings, RunContext, StopResponse, ToolError, function_tool, llm, stt
from livekit.agents.types import FlushSentinel
from pydantic import BaseModel, Field

from core.call_contract import TOOL_NAMES, Outcome
from voiceworker import call_actions
from voiceworker.api_client import ApiUnavailable, ToolReply
from voiceworker.call_state import CallState
from voiceworker.turn_patience import TurnPatience, Unfinished

logger = logging.getLogger("soniq.voiceworker")

UNAVAILABLE_APOLOGY = ("Our system did not answer just now. Apologise briefly to the caller and offer to try "
                       "again in a moment, or to take a message with log_note.")
TRANSFER_CALLER_TOLD = ("The caller has just heard that nobody could take the call; do not say it again. Say what "
                        "happens now (the message below); if the result's action is \"message\", take their message "
                        "and save it with log_note.")
TRANSFER_AND_CALLBACK_FAILED = ("The transfer did not go through and no callback could be queued. Apologise, and "
                                "offer to take a message with log_note.")



class OrderItem(BaseModel):
    name: str = Field(description="The menu item as the caller said it, e.g. 'margherita'.")
    quantity: int = Field(description="How many, 1 to 99.")
    notes: str | None = Field(default=None, description="Wishes for this item, e.g. 'no onions'; null if none.")


# create_booking/create_order without `confirmed: true`: nothing written, the details read back.
READ_BACK_CODE = "not_confirmed"
READ_BACK_NEXT = ("Nothing is saved yet. Say read_back to the caller and wait: only after they say yes, call {tool} "
                  "again with the same details and confirmed true; if they correct something, call it with the "
                  "correction and confirmed false.")


@function_tool
async def check_availability(context: RunContext[CallState], service: str, date: str,
                             time: str | None = None) -> str | None:
    """Check when a service can be booked. Call this before offering or confirming any time.

    Returns whether the requested time is free and up to five nearby free start times.

    Args:
        service: The service as the caller named it, e.g. "haircut".
        date: The day in local time, written like 2026-03-10.
        time: The time the caller asked for in local time, written like 14:30; null to see the whole day.
    """
    return await _call_tool(context, "check_availability", {"service": service, "date": date, "time": time})


@function_tool
async def create_booking(context: RunContext[CallState], service: str, start: str, customer_name: str,
                         customer_phone: str, confirmed: bool, notes: str | None = None) -> str | None:
    """Book an appointment, after check_availability showed the time is free. Call it first with
    confirmed false: nothing is booked, and its message reads the booking back (service, day, time,
    name, phone number). Say that to the caller, and only after their yes call it again with confirmed
    true; if they correct something, call it again with the correction and confirmed false.

    Args:
        service: The service as the caller named it, e.g. "haircut".
        start: The start in local time, written like 2026-03-10T14:30.
        customer_name: The caller's name.
        customer_phone: The number to reach the caller on.
        confirmed: true only when the caller said yes to the read-back of exactly these details.
        notes: Anything the business should know for this booking; null if nothing.
    """
    return await _call_tool(context, "create_booking", {
        "service": service, "start": start, "customer_name": customer_name,
        "customer_phone": customer_phone, "notes": notes, "confirmed": confirmed,
    })


@function_tool
async def create_order(context: RunContext[CallState], items: list[OrderItem], customer_name: str,
                       customer_phone: str, fulfillment: Literal["pickup", "delivery"],
                       confirmed: bool, delivery_address: str | None = None,
                       notes: str | None = None) -> str | None:
    """Place a food order. Call it first with confirmed false: nothing is ordered, and its message
    reads the whole order back (items and quantities, pickup or the address, name, phone number, the
    total). Say that to the caller, and only after their yes call it again with confirmed true. The
    result then has the total and when it will be ready: tell the caller those.

    Args:
        items: Every item with its quantity.
        customer_name: The caller's name.
        customer_phone: The number to reach the caller on.
        fulfillment: "pickup" or "delivery".
        confirmed: true only when the caller said yes to the read-back of exactly this order.
        delivery_address: The full address for a delivery; null for pickup.
        notes: Anything else about the order; null if nothing.
    """
    return await _call_tool(context, "create_order", {
        "items": [item.model_dump(exclude_none=True) for item in items],
        "customer_name": customer_name, "customer_phone": customer_phone, "fulfillment": fulfillment,
        "delivery_address": delivery_address, "notes": notes, "confirmed": confirmed,
    })


@function_tool
async def find_bookings(context: RunContext[CallState], customer_phone: str | None = None,
                        customer_name: str | None = None) -> str | None:
    """Look up the caller's upcoming bookings, before moving or cancelling one. Found by the number they
    call from; if they booked from another phone or their number is withheld, pass that number and the
    name the booking is under (both).

    Args:
        customer_phone: The number the booking was made under, only if not the one they call from; else null.
        customer_name: The name the booking was made under, together with customer_phone; else null.
    """
    return await _call_tool(context, "find_bookings", {"customer_phone": customer_phone, "customer_name": customer_name})


@function_tool
async def reschedule_booking(context: RunContext[CallState], booking_id: int, start: str,
                             customer_phone: str | None = None, customer_name: str | None = None,
                             verification_code: str | None = None) -> str | None:
    """Move a booking to a new time. Only with a booking_id from find_bookings, after check_availability
    showed the new time is free and the caller confirmed the old and the new day and time. Ask the
    caller for the name the booking is under first: it is always needed.

    Args:
        booking_id: The booking's id from find_bookings.
        start: The new start in local time, written like 2026-03-10T14:30.
        customer_phone: As given to find_bookings; else null.
        customer_name: The name the booking was made under, as the caller says it.
        verification_code: The code the caller read from the text, only after this tool said it texted one; else null.
    """
    return await _call_tool(context, "reschedule_booking", {
        "booking_id": booking_id, "start": start, "customer_phone": customer_phone, "customer_name": customer_name,
        "verification_code": verification_code,
    })


@function_tool
async def cancel_booking(context: RunContext[CallState], booking_id: int, reason: str | None = None,
                         customer_phone: str | None = None, customer_name: str | None = None,
                         verification_code: str | None = None) -> str | None:
    """Cancel a booking. Only with a booking_id from find_bookings, after reading the booking back and
    hearing the caller confirm they want it cancelled. Ask the caller for the name the booking is
    under first: it is always needed.

    Args:
        booking_id: The booking's id from find_bookings.
        reason: Why, in a few words, if the caller said; else null.
        customer_phone: As given to find_bookings; else null.
        customer_name: The name the booking was made under, as the caller says it.
        verification_code: The code the caller read from the text, only after this tool said it texted one; else null.
    """
    return await _call_tool(context, "cancel_booking", {
        "booking_id": booking_id, "reason": reason, "customer_phone": customer_phone, "customer_name": customer_name,
        "verification_code": verification_code,
    })


@function_tool
async def order_status(context: RunContext[CallState]) -> str | None:
    """Look up the orders the caller placed in the last day from the number they call from: their status
    and when they will be ready."""
    return await _call_tool(context, "order_status", {})


@function_tool
async def transfer_to_human(context: RunContext[CallState], reason: str, callback_number: str | None = None,
                            caller_name: str | None = None) -> str | None:
    """Hand the caller to a person, when they ask for one or you cannot help. If nobody can take the call
    now, this queues a callback instead: then tell the caller when to expect it.

    Args:
        reason: In a few words, what the caller needs.
        callback_number: A number to call back on, only if the caller gave one other than the one they call from; else null.
        caller_name: The caller's name if you know it; else null.
    """
    call = context.userdata
    if call.transferring:
        return None  # a second transfer_to_human while the first rings
    request = _without_nones({"reason": reason, "callback_number": callback_number, "caller_name": caller_name})
    reply = _approved(await _api_reply(context, "transfer_to_human", request))
    if reply is None:
        return None
    if reply.result.get("action") != "transfer":
        return _for_model(reply)  # nobody can take the call now: a callback is queued
    # The announcement and the transfer are not interrupted by a caller's "hello?".
    context.disallow_interruptions()
    # Let whatever the model said alongside the tool call finish before the line changes hands.
    await context.wait_for_playout()
    fallback = await call_actions.transfer_caller(
        context.session, call, transfer_to=str(reply.result.get("transfer_to", "")), request=request,
        announcement=reply.message or call.phrase("transfer_announcement"))
    if fallback is None:
        return None  # the caller is with a person now; nothing more to say
    if not fallback.ok:
        # A 4xx carries what the API needs to queue the callback (say, a number to call back on).
        raise ToolError(f"The transfer did not go through. {fallback.message}" if fallback.status
                        else TRANSFER_AND_CALLBACK_FAILED)
    return _for_model(fallback, transfer_failed=True, caller_already_told=TRANSFER_CALLER_TOLD)


@function_tool
async def end_call(context: RunContext[CallState], outcome: Outcome, reason: str) -> str | None:
    """Hang up, once the caller has nothing more and you have said goodbye.

    Args:
        outcome: What the call achieved: booked, ordered, answered, transferred, callback or other.
        reason: In a few words, why the call is ending.
    """
    call = context.userdata
    request = {"outcome": outcome, "reason": reason}
    reply = await _api_reply(context, "end_call", request, unavailable_is_refusal=True)
    if reply is None:
        return None
    if not reply.ok and reply.error_code == "invalid_outcome":
        raise ToolError(reply.message or "That did not work. Ask the caller to rephrase.")
    if reply.ok and reply.result.get("action") != "hangup":
        return _for_model(reply)
    # The caller wants to go whatever else the API said; the outcome still reaches the platform in
    # the call's log.
    await context.wait_for_playout()
    if not _model_spoke(context):
        goodbye = reply.message if reply.ok else ""  # a refusal's sentence is no goodbye
        await call_actions.say_and_wait(context.session, goodbye or call.phrase("goodbye"))
    call.settle(outcome=outcome, end_reason=reason)
    await call_actions.hang_up(call)
    return None


@function_tool
async def log_note(context: RunContext[CallState], note: str) -> str | None:
    """Leave a note for the business about this call: a message for the owner, a complaint, a request no
    other tool records.

    Args:
        note: The note, in full sentences.
    """
    return await _call_tool(context, "log_note", {"note": note})


@function_tool
async def do_not_call(context: RunContext[CallState]) -> str | None:
    """Record that the person you called back asked not to be called again. Only when they ask for that."""
    return await _call_tool(context, "do_not_call", {})


_FUNCTION_TOOLS = {tool.id: tool for tool in (
    check_availability, create_booking, find_bookings, reschedule_booking, cancel_booking, create_order, order_status,
    transfer_to_human, end_call, log_note, do_not_call,
)}
if set(_FUNCTION_TOOLS) != set(TOOL_NAMES):
    # The API offers the table's tools by name: one the worker cannot run would be silently missing.
    raise RuntimeError(f"function tools {sorted(_FUNCTION_TOOLS)} do not match the tool table {sorted(TOOL_NAMES)}")
# In the table's order (core.call_contract.TOOLS).
TOOLS = [_FUNCTION_TOOLS[name] for name in TOOL_NAMES]


class SoniqAgent(Agent):
    def __init__(self, *, instructions: str, tools_offered: Sequence[str] | None = None):
        # The API says which tools fit this business (no bookings at a pizzeria); a tool the model
        # never sees is a tool it cannot call by mistake.
        tools = [tool for tool in TOOLS if tools_offered is None or tool.id in set(tools_offered)]
        super().__init__(instructions=instructions, tools=tools)
        self._patience: TurnPatience | None = None

    async def on_user_turn_completed(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> None:
        # A caller's "hello?" while the transfer rings (or after the hang-up) must not start a new
        # reply: the line is about to change hands.
        if self._patience is not None:
            self._patience.turn_over()
        if _call_is_leaving(self):
            raise StopResponse()

    async def llm_node(self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings):
        # Whatever asks for a reply (a queued turn, a warning) gets none once the caller is leaving.
        if _call_is_leaving(self):
            return
        chunks = Agent.default.llm_node(self, chat_ctx, tools, model_settings).__aiter__()
        call = _call_of(self)
        if call is None or call.llm_filler_delay is None:
            async for chunk in chunks:
                yield chunk
            return
        # A slow first token (a provider queueing, a retry after a timeout) is a silence on the
        # phone: the caller hears a short filler after `llm_filler_delay`, and another if the wait
        # goes on, then the answer. The filler is part of this reply's text, so it plays at once
        # (a `session.say` would queue behind the reply it is meant to cover).
        first = asyncio.ensure_future(chunks.__anext__())
        delay, phrase = call.llm_filler_delay, "filler"
        try:
            # Until the model answers or its attempts fail (bounded: `providers.build_llm`).
            while not (await asyncio.wait({first}, timeout=delay))[0]:
                yield f"{call.phrase(phrase)} "
                yield FlushSentinel()
                delay, phrase = LLM_FILLER_REPEAT_SECONDS, "still_thinking"
            try:
                chunk = await first
            except StopAsyncIteration:
                return
        finally:
            if not first.done():
                first.cancel()
        yield chunk
        async for chunk in chunks:
            yield chunk

    async def stt_node(self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings):
        # While the agent speaks, a transcript that is only a backchannel ("mm-hmm", "okay") or a
        # filler word is the caller listening, not taking the floor: it is dropped, so it neither
        # interrupts (`min_words` counts only words that reach the session) nor becomes a turn.
        # "No, wait, Thursday" is no backchannel and interrupts as soon as it is transcribed.
        events = await _events_of(Agent.default.stt_node(self, audio, model_settings))
        if events is None:
            return
        async for event in events:
            if isinstance(event, stt.SpeechEvent):
                if self._is_backchannel(event):
                    continue
                if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT and event.alternatives:
                    if (patience := self._turn_patience()) is not None:
                        patience.heard(event.alternatives[0].text)
            yield event

    def _turn_patience(self) -> TurnPatience | None:
        if self._patience is None and (call := _call_of(self)) is not None:
            unfinished = Unfinished(endings=call.phrase("unfinished_endings"), digit_words=call.phrase("digit_words"),
                                    number_words=call.phrase("number_words"))
            self._patience = TurnPatience(self.session, unfinished,
                                          patient_delay=settings.VOICE_ENDPOINTING_PATIENT_DELAY)
        return self._patience

    def _is_backchannel(self, event: stt.SpeechEvent) -> bool:
        if event.type not in (stt.SpeechEventType.INTERIM_TRANSCRIPT, stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
                              stt.SpeechEventType.FINAL_TRANSCRIPT) or not event.alternatives:
            return False
        call = _call_of(self)
        if call is None or self.session.agent_state != "speaking":
            return False
        return is_backchannel(event.alternatives[0].text, call.phrase("backchannels"))


# After the first filler, the next ones while the model still has not answered: however short the
# filler, the caller never hears 2 s of silence.
LLM_FILLER_REPEAT_SECONDS = 1.9
_WORDS = re.compile(r"[^\w'-]+")


def is_backchannel(text: str, backchannels: str) -> bool:
    """Whether `text` is only backchannels and filler words (one or several: "yeah, okay")."""
    spoken = " ".join(_WORDS.sub(" ", text.lower()).split())
    if not spoken:
        return False
    known = sorted((" ".join(_WORDS.sub(" ", phrase.lower()).split()) for phrase in backchannels.split("|")),
                   key=len, reverse=True)
    known = [phrase for phrase in known if phrase]
    while spoken:
        for phrase in known:
            if spoken == phrase or spoken.startswith(phrase + " "):
                spoken = spoken[len(phrase):].strip()
                break
        else:
            return False
    return True


async def _events_of(node):
    """An stt node's result: an async iterable, or a coroutine returning one (or None)."""
    if asyncio.iscoroutine(node):
        return await node
    return node


def _call_of(agent: Agent) -> CallState | None:
    try:
        call = agent.session.userdata
    except (RuntimeError, ValueError):
        return None
    return call if isinstance(call, CallState) else None


def _call_is_leaving(agent: Agent) -> bool:
    try:
        call = agent.session.userdata
    except (RuntimeError, ValueError):
        return False  # a session without call state (tests of the tools alone)
    return isinstance(call, CallState) and (call.transferring or call.over)


async def _call_tool(context: RunContext[CallState], action: str, payload: dict[str, Any]) -> str | None:
    """Run `action` against the internal API and answer the model with its result. The tools that
    do more once the API has approved them (transfer_to_human, end_call) do it themselves."""
    reply = await _api_reply(context, action, _without_nones(payload))
    if reply is not None and not reply.ok and reply.error_code == READ_BACK_CODE:
        # Not a failure: the write waits for the caller's yes to what the API read back.
        return json.dumps({"confirmed": False, "read_back": reply.message, "details": reply.details,
                           "next": READ_BACK_NEXT.format(tool=action)}, ensure_ascii=False)
    reply = _approved(reply)
    return None if reply is None else _for_model(reply)


async def _api_reply(context: RunContext[CallState], action: str, payload: dict[str, Any], *,
                     unavailable_is_refusal: bool = False) -> ToolReply | None:
    """The API's answer to `action`, with a filler if it is slow; None once the call is over. An API
    that does not answer is a ToolError the model apologises with, or (`unavailable_is_refusal`) a
    refusal the tool decides about."""
    call = context.userdata
    if call.over:
        return None  # anything after the hang-up
    async with context.with_filler(call.phrase("filler"), delay=call.filler_delay):
        try:
            return await call.run_tool(action, payload)
        except ApiUnavailable as exc:
            logger.error("call %s: tool %s failed: %s", call.call_id, action, exc)
            if not unavailable_is_refusal:
                raise ToolError(UNAVAILABLE_APOLOGY) from exc
            return ToolReply(ok=False, status=0, error_code="unavailable")


def _approved(reply: ToolReply | None) -> ToolReply | None:
    """`reply` when the API said yes; its speakable refusal as a ToolError, so the model can correct
    itself or tell the caller."""
    if reply is not None and not reply.ok:
        raise ToolError(reply.message or "That did not work. Ask the caller to rephrase.")
    return reply


def _without_nones(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if value is not None}


def _for_model(reply: ToolReply, **extra: Any) -> str:
    return json.dumps({**extra, "result": reply.result, "message": reply.message}, ensure_ascii=False)


def _model_spoke(context: RunContext[CallState]) -> bool:
    """Whether the model said something in the step that called this tool (its goodbye).
    `chat_items` accumulates over every tool step of one reply, and a step's text is appended when
    it has played, after that step's tool outputs; so the step is told by time: what was created
    after the previous step's tool outputs."""
    items = list(context.speech_handle.chat_items)
    called_at = context.function_call.created_at
    step_began = max((item.created_at for item in items
                      if getattr(item, "type", None) == "function_call_output" and item.created_at <= called_at),
                     default=0.0)
    return any(getattr(item, "type", None) == "message" and item.role == "assistant" and item.created_at > step_began
               and (item.text_content or "").strip() for item in items)
