"""Reads of calls: a call by id, and whether a human can take a transfer right now.

Everything here expects the tenant's schema to be active (`tenant_context(tenant)`).
"""
from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import Subquery

from calls.models import Call
from tenants.agent.models import AgentSettings, EscalationHours
from tenants.agent.selectors import agent_settings_get


def call_get(*, call_id: str, with_agent_language: bool = False) -> Call | None:
    """The call, or None. `with_agent_language`: with `call.agent_language`, the language the
    business's agent speaks now, read in the same round trip (every voice tool answers in it)."""
    try:
        primary_key = uuid.UUID(str(call_id))
    except ValueError:
        return None
    calls = Call.objects.all()
    if with_agent_language:
        calls = calls.annotate(agent_language=Subquery(AgentSettings.objects.order_by("id").values("language")[:1]))
    try:
        return calls.get(pk=primary_key)
    except Call.DoesNotExist:
        return None


def transfer_target_at(*, at: dt.datetime, tz: dt.tzinfo, agent_settings: AgentSettings | None = None) -> str:
    """Where a transfer would go at `at`, or "" when no human takes calls then.

    Escalation hours are wall-clock ranges in the tenant's zone on a weekday, like opening hours."""
    agent_settings = agent_settings or agent_settings_get()
    if not agent_settings.transfer_to:
        return ""
    local = at.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    for hours in EscalationHours.objects.filter(weekday=local.weekday()):
        if hours.starts <= wall < hours.ends:
            return agent_settings.transfer_to
    return ""
