"""The caller and judge models of a scenario run: any OpenAI-compatible endpoint (settings
SCENARIO_LLM_BASE_URL / SCENARIO_LLM_API_KEY, falling back to the agent's OPENAI_*), streamed
(every such server streams; not every one answers without it)."""
from __future__ import annotations

import hashlib
import json
import re

from django.conf import settings
from openai import AsyncOpenAI

CALLER_PROMPT = """You are playing a caller on a phone call to a business, to test its phone agent.
Who you are: {persona}
What you want: {goal}
Speak as that caller would on the phone: one short line per turn, no stage directions, never mention
that this is a test or that you are an AI. Stay in character. When your goal is reached, or clearly
cannot be reached, say a short goodbye and end that line with [HANG UP]."""

JUDGE_PROMPT = """You judge a phone conversation between a business's AI agent and a caller.
Grade each numbered criterion strictly against the transcript and the tool calls the agent made.
Answer with JSON only, exactly: {{"verdicts": [{{"criterion": <number>, "pass": true|false, "reason": "<one sentence>"}}]}}

{before}Criteria:
{criteria}

Tool calls (name, arguments, result):
{tools}

Transcript:
{transcript}"""

HANG_UP = "[HANG UP]"


def prompt_version() -> str:
    """Which caller and judge prompts produced a result (stored with it)."""
    return hashlib.sha256((CALLER_PROMPT + JUDGE_PROMPT).encode()).hexdigest()[:12]


def scenario_llm_client() -> AsyncOpenAI:
    base_url = settings.SCENARIO_LLM_BASE_URL or settings.OPENAI_BASE_URL or None
    api_key = settings.SCENARIO_LLM_API_KEY or settings.OPENAI_API_KEY or "not-needed"
    return AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=60)


async def _complete(client: AsyncOpenAI, *, model: str, messages: list[dict]) -> str:
    # No sampling options: not every OpenAI-compatible server (or reasoning model) takes them.
    stream = await client.chat.completions.create(model=model, messages=messages, stream=True)
    parts = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
    return "".join(parts).strip()


async def caller_next_line(client: AsyncOpenAI, *, persona: str, goal: str, transcript: list[dict]) -> tuple[str, bool]:
    """The simulated caller's next line and whether they hang up after it."""
    # The conversation from the caller's side: the agent is the "user" it answers.
    messages = [{"role": "system", "content": CALLER_PROMPT.format(persona=persona, goal=goal)}]
    for turn in transcript:
        messages.append({"role": "assistant" if turn["role"] == "caller" else "user", "content": turn["text"]})
    if len(messages) == 1:
        messages.append({"role": "user", "content": "(The phone is answered.)"})
    text = await _complete(client, model=settings.SCENARIO_CALLER_MODEL, messages=messages)
    hangs_up = HANG_UP.lower() in text.lower()
    line = re.sub(re.escape(HANG_UP), "", text, flags=re.IGNORECASE).strip()
    return line, hangs_up


async def judge_verdicts(client: AsyncOpenAI, *, criteria: list[str], transcript: list[dict],
                         tool_calls: list[dict], before: str = "") -> list[dict]:
    """[{criterion, passed, reason}] for each criterion; one the judge left out fails, with that reason."""
    if not criteria:
        return []
    prompt = JUDGE_PROMPT.format(
        before=f"Before the call: {before}\n\n" if before else "",
        criteria="\n".join(f"{index}. {text}" for index, text in enumerate(criteria, start=1)),
        tools="\n".join(f"- {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)}) -> {call['output'][:300]}"
                        for call in tool_calls) or "(none)",
        transcript="\n".join(f"{'Agent' if turn['role'] == 'agent' else 'Caller'}: {turn['text']}" for turn in transcript),
    )
    text = await _complete(client, model=settings.SCENARIO_JUDGE_MODEL, messages=[{"role": "user", "content": prompt}])
    graded: dict[int, dict] = {}
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    try:
        for item in json.loads(match.group(0)).get("verdicts", []) if match else []:
            graded[int(item["criterion"])] = {"passed": item.get("pass") is True, "reason": str(item.get("reason", ""))}
    except (ValueError, TypeError, KeyError, AttributeError):
        graded = {}
    return [{"criterion": text_, **graded.get(index, {"passed": False, "reason": "The judge gave no verdict on this."})}
            for index, text_ in enumerate(criteria, start=1)]
