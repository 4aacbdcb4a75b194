"""The call summary: after a call's log is stored, the configured OpenAI-compatible LLM (the same
OPENAI_* settings as the agent) writes one or two sentences and a few structured fields. Then the
`call.ended` webhook goes out, with the summary or, when there is none, without it: the LLM gets
SUMMARY_TIMEOUT_SECONDS (25 s) at most, so the webhook waits no longer than about 30 s."""
from __future__ import annotations

import json
import logging

import requests
from django.conf import settings

from calls.models import Call
from calls.summaries.models import CallSummary
from core.card_numbers import mask_card_numbers

logger = logging.getLogger("summaries")

MAX_TRANSCRIPT_CHARS = 12_000
INTENTS = ("booking", "order", "question", "callback", "complaint", "cancellation", "reschedule", "other")
PROMPT = (
    "You summarise phone calls to a small business for its owner. Answer with a JSON object only: "
    '{"summary": "<one or two sentences: who called, what they wanted, what happened>", '
    f'"intent": "<one of: {", ".join(INTENTS)}>", '
    '"follow_up_needed": <true if someone at the business must act (call back, answer, fix), else false>}'
)


def _chat_url() -> str:
    base = (settings.OPENAI_BASE_URL or "https://api.openai.com/v1").rstrip("/")
    return f"{base}/chat/completions"


def _transcript_text(call: Call) -> str:
    lines = [f"{turn.get_role_display()}: {turn.text}" for turn in call.turns.order_by("sequence")]
    lines += [f"(note left: {note.text})" for note in call.notes.order_by("created")]
    text = "\n".join(lines)
    return text[-MAX_TRANSCRIPT_CHARS:]


def _parse(content: str) -> tuple[str, str, bool | None]:
    content = content.strip()
    if content.startswith("```"):
        content = content.strip("`").removeprefix("json").strip()
    data = json.loads(content)
    if not isinstance(data, dict) or not isinstance(data.get("summary"), str) or not data["summary"].strip():
        raise ValueError("the answer has no summary")
    intent = data.get("intent") if data.get("intent") in INTENTS else "other"
    follow_up = data.get("follow_up_needed")
    return data["summary"].strip()[:1000], intent, follow_up if isinstance(follow_up, bool) else None


def summaries_configured() -> bool:
    """Whether calls are summarised at all: an LLM is configured (the admin says so when not)."""
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def call_summarize(*, call_id: str) -> CallSummary:
    """Summarise the call (once: a summary that exists is returned as is) and return the row, whose
    status says whether there is a summary and, if not, why (`error`)."""
    call = Call.objects.get(pk=call_id)
    existing = CallSummary.objects.filter(call=call).first()
    if existing is not None:
        return existing
    if not summaries_configured():
        reason = "No LLM is configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL is set)."
        logger.info("call %s not summarised: %s", call.pk, reason)
        return CallSummary.objects.get_or_create(call=call, defaults={"status": CallSummary.Status.SKIPPED, "error": reason})[0]
    transcript = _transcript_text(call)
    if not transcript.strip():
        return CallSummary.objects.get_or_create(call=call, defaults={"status": CallSummary.Status.SKIPPED,
                                                                       "error": "The call has no transcript."})[0]
    try:
        response = requests.post(_chat_url(), timeout=settings.SUMMARY_TIMEOUT_SECONDS,
                                 headers={"Authorization": f"Bearer {settings.OPENAI_API_KEY}"} if settings.OPENAI_API_KEY else {},
                                 json={"model": settings.SUMMARY_LLM_MODEL, "temperature": 0,
                                       "response_format": {"type": "json_object"},
                                       "messages": [{"role": "system", "content": PROMPT},
                                                    {"role": "user", "content": f"Outcome: {call.outcome}\n\n{transcript}"}]})
        response.raise_for_status()
        summary, intent, follow_up = _parse(response.json()["choices"][0]["message"]["content"])
        # The transcript it read is masked, but a model can still write digits it inferred or repeated.
        summary = mask_card_numbers(summary)
    except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as exc:
        reason = f"The LLM gave no usable summary: {exc.__class__.__name__}: {exc}"[:1000]
        logger.warning("call %s not summarised: %s", call.pk, reason)
        return CallSummary.objects.get_or_create(call=call, defaults={"status": CallSummary.Status.FAILED, "error": reason})[0]
    return CallSummary.objects.get_or_create(call=call, defaults={
        "status": CallSummary.Status.DONE, "summary": summary, "intent": intent, "follow_up_needed": follow_up})[0]
