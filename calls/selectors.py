"""Reads of calls: a call by id, and whether a human can take a transfer right now.

Everything here expects the tenant's schema to be active (`tenant_context(tenant)`).
"""
from __future__ import annotations

import datetime as dt
import uuid

from calls.models import Call
from tenants.agent.models import AgentSettings, EscalationHours
from tenants.agent.selectors import agent_settings_get


def call_get(*, call_id: str) -> Call | None:
    try:
        primary_key = uuid.UUID(str(call_id))
    except ValueError:
        return None
    try:
        return Call.objects.get(pk=primary_key)
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
