"""Celery task of the summaries app: summarise a call, then send `call.ended`."""
from __future__ import annotations

import logging

from calls import followups
from calls.models import Call
from calls.summaries import services
from core.celery_app import app

logger = logging.getLogger("summaries")


@app.task(name="summaries.call_summarize", acks_late=True, soft_time_limit=40, time_limit=60)
def call_summarize_task(call_id: str) -> str:
    """Contract: one attempt (the LLM has SUMMARY_TIMEOUT_SECONDS); whatever happens, `call.ended` is
    recorded afterwards, with the summary if there is one. Running twice sends one `call.ended`
    (its deliveries are unique per endpoint and call)."""
    summary = None
    try:
        summary = services.call_summarize(call_id=call_id)
    except Call.DoesNotExist:
        logger.warning("call %s not found; no summary, no call.ended", call_id)
        return "missing"
    except Exception:
        logger.exception("summary of call %s failed", call_id)
    followups.call_ended(call=Call.objects.get(pk=call_id), summary=summary)
    return summary.status if summary else "failed"
