"""`python manage.py callsim <called number>`: a text conversation with that business's real agent.

Its real instructions and tools, against the real internal API (SONIQ_API_URL), with the LLM from
settings: OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL (a local model server works).
No LiveKit, speech-to-text or text-to-speech. Each tool call is shown with its result; a transfer or
hang-up is shown as what would have happened. Type /quit (or end the input) to hang up yourself.
"""
from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

QUIT_WORDS = {"/quit", "/exit", "/bye"}


class Command(BaseCommand):
    help = "Talk to a business's real agent in the terminal (text only): callsim <called number>."
    requires_system_checks: list = []
    # Tests hand the conversation in through `stdin`.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("called_number", help="The number the caller dials, e.g. +15550100001.")
        parser.add_argument("--caller", default="+15555550123", help="The caller's number (default %(default)s).")

    def handle(self, *args, called_number: str, caller: str, **options) -> None:
        if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
            raise CommandError(
                "callsim needs an LLM: set OPENAI_API_KEY, or OPENAI_BASE_URL to use any OpenAI-compatible "
                "server instead (e.g. OPENAI_BASE_URL=http://127.0.0.1:8080/v1 for a local model server).")
        if not settings.INTERNAL_API_TOKEN:
            raise CommandError("callsim starts a real call through the internal API: set INTERNAL_API_TOKEN "
                               "(the same value the web server has).")
        asyncio.run(self._converse(called_number=called_number, caller=caller, stdin=options.get("stdin") or sys.stdin))

    def _print(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def _converse(self, *, called_number: str, caller: str, stdin: TextIO) -> None:
        from livekit.agents import AgentSession

        from voiceworker.agent import SoniqAgent
        from voiceworker.api_client import ApiRefused, ApiUnavailable, SoniqApiClient, UnknownNumber
        from voiceworker.call_control import LoggingCallControl
        from voiceworker.call_job import build_call, send_log
        from voiceworker.call_logger import CallLogger
        from voiceworker.providers import MAX_TOOL_STEPS, build_llm

        api = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
        try:
            start = await api.start_call(called_number=called_number, caller_number=caller,
                                         room=f"callsim-{uuid.uuid4().hex[:12]}", sip_call_id="callsim")
        except UnknownNumber as exc:
            await api.aclose()
            raise CommandError(f"No business answers {called_number}.") from exc
        except (ApiUnavailable, ApiRefused) as exc:
            await api.aclose()
            raise CommandError(f"Could not start the call through {settings.SONIQ_API_URL}: {exc}. "
                               "Is the web server running, with the same INTERNAL_API_TOKEN?") from exc

        config = start.config
        control = LoggingCallControl(echo=self._print)
        session = AgentSession(llm=build_llm(config), vad=None, turn_handling={"turn_detection": None},
                               max_tool_steps=MAX_TOOL_STEPS)
        session, call = build_call(start, api=api, control=control, vad_model=None, session=session)
        self._print(f"Calling {config.business_name or called_number} ({config.tenant}) as {caller}; "
                    f"model {config.llm.model} at {settings.OPENAI_BASE_URL or 'OpenAI'}. "
                    "Type /quit to hang up.")
        session.on("conversation_item_added", self._show_message)
        session.on("function_tools_executed", self._show_tools)
        await session.start(SoniqAgent(instructions=config.instructions, tools_offered=config.tools),
                            record=False)
        try:
            if config.greeting:
                await session.say(config.greeting)
            loop = asyncio.get_running_loop()
            while not call.over:
                line = await loop.run_in_executor(None, stdin.readline)
                if not line or line.strip().lower() in QUIT_WORDS:
                    call.settle(outcome=call.recorder.inferred_outcome(), end_reason="The caller hung up.")
                    break
                if not line.strip():
                    continue
                if not stdin.isatty():
                    self._print(f"You: {line.strip()}")
                try:
                    await session.run(user_input=line.strip())
                except Exception as exc:  # the LLM failed: say so and let the user decide
                    self._print(f"[the turn failed: {exc}]")
        finally:
            await session.aclose()
            delivered = await send_log(call, call_logger=CallLogger(api_url=settings.SONIQ_API_URL,
                                                                       spool_dir=settings.VOICE_SPOOL_DIR))
            await api.aclose()
        self._print(f"Call ended: outcome {call.outcome or '-'}, {call.end_reason} "
                    f"(log {'sent' if delivered else 'spooled for later'}).")

    def _show_message(self, event: Any) -> None:
        item = event.item
        if getattr(item, "type", None) == "message" and item.role == "assistant" and item.text_content:
            self._print(f"Agent: {item.text_content}")

    def _show_tools(self, event: Any) -> None:
        for function_call, output in event.zipped():
            self._print(f"  [tool] {function_call.name}({_compact(function_call.arguments)})")
            if output is not None:
                self._print(f"  [{'error' if output.is_error else 'result'}] {_compact(output.output) or '(nothing)'}")


def _compact(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (TypeError, ValueError):
        return text or ""
