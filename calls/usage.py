"""Usage totals for the dashboard (a tenant's own) and the operator (every tenant's): calls,
minutes, LLM tokens, STT seconds and TTS characters, from the figures the ingestion task stores
on each Call."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context

from calls.models import Call


def usage_totals(*, since: dt.datetime, until: dt.datetime) -> dict:
    """Totals of the current tenant's calls that started in [since, until).

    Minutes come from the logged durations; a call without one (still running, or abandoned)
    counts as a call but adds no minutes."""
    # Test calls (core/trial_calls.py) are the platform's, not the business's usage.
    totals = Call.objects.filter(started_at__gte=since, started_at__lt=until, is_test=False).aggregate(
        calls=Count("id"),
        duration_seconds=Coalesce(Sum("duration_seconds"), Decimal(0)),
        llm_prompt_tokens=Coalesce(Sum("llm_prompt_tokens"), 0),
        llm_completion_tokens=Coalesce(Sum("llm_completion_tokens"), 0),
        stt_seconds=Coalesce(Sum("stt_seconds"), Decimal(0)),
        tts_characters=Coalesce(Sum("tts_characters"), 0),
    )
    duration_seconds = totals.pop("duration_seconds")
    return {
        "calls": totals["calls"],
        "minutes": (duration_seconds / 60).quantize(Decimal("0.01")),
        "llm_prompt_tokens": totals["llm_prompt_tokens"],
        "llm_completion_tokens": totals["llm_completion_tokens"],
        "llm_tokens": totals["llm_prompt_tokens"] + totals["llm_completion_tokens"],
        "stt_seconds": totals["stt_seconds"],
        "tts_characters": totals["tts_characters"],
    }


def usage_totals_by_tenant(*, since: dt.datetime, until: dt.datetime) -> list[dict]:
    """For the operator: `usage_totals` of every tenant, each with `tenant` (the Tenant), by name."""
    rows = []
    for tenant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()).order_by("name"):
        with tenant_context(tenant):
            rows.append({"tenant": tenant, **usage_totals(since=since, until=until)})
    return rows
