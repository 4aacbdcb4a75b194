"""Running the real agent in text mode (no room, no audio) against the real API."""
from __future__ import annotations

import asyncio
import re
from typing import Any

from django.conf import settings
from livekit.agents import AgentSession, llm

from voiceworker.agent import SoniqAgent
from voiceworker.api_client import SoniqApiClient
from voiceworker.call_control import CallControl, LoggingCallControl
from voiceworker.call_job import build_call
from voiceworker.call_state import CallState
from voiceworker.providers import MAX_TOOL_STEPS
from voiceworker.tests.conftest import CALLER_NUMBER

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


async def start_text_call(*, called_number: str, model: llm.LLM, control: CallControl | None = None,
                          caller_number: str = CALLER_NUMBER, filler_delay: float = 60.0,
                          room: str = "room-test") -> tuple[AgentSession, CallState]:
    api = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
    start = await api.start_call(called_number=called_number, caller_number=caller_number, room=room,
                                 sip_call_id="sip-call-test")
    session = AgentSession(llm=model, vad=None, turn_handling={"turn_detection": None}, max_tool_steps=MAX_TOOL_STEPS)
    session, call = build_call(start, api=api, control=control or LoggingCallControl(), vad_model=None, session=session)
    # Tests that are not about the filler keep it out of the transcript, however slow the machine.
    call.filler_delay = filler_delay
    await session.start(SoniqAgent(instructions=start.config.instructions, tools_offered=start.config.tools),
                        record=False)
    return session, call


async def close(session: AgentSession, call: CallState) -> None:
    await session.aclose()
    await call.api.aclose()


async def turn(session: AgentSession, text: str):
    """One caller turn; bounded so a broken script fails instead of hanging."""
    return await asyncio.wait_for(session.run(user_input=text), 20)


def free_starts(result: Any) -> list[str]:
    """Every ISO 8601 start time anywhere in a check_availability result."""
    found: list[str] = []
    if isinstance(result, dict):
        for value in result.values():
            found += free_starts(value)
    elif isinstance(result, list):
        for value in result:
            found += free_starts(value)
    elif isinstance(result, str) and ISO_DATETIME.match(result):
        found.append(result)
    return found


def spoken(call: CallState) -> list[str]:
    return [turn["text"] for turn in call.recorder.transcript if turn["role"] == "assistant"]
