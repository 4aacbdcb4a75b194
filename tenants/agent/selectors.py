from tenants.agent.models import AgentSettings, BusinessFact, EscalationHours


def agent_settings_get() -> AgentSettings:
    """The current tenant's agent settings (every provisioned tenant has one row)."""
    settings_row = AgentSettings.objects.first()
    if settings_row is None:
        raise AgentSettings.DoesNotExist("This tenant has no agent settings; provision it first.")
    return settings_row


def escalation_hours_for_weekday(*, weekday: int) -> list[EscalationHours]:
    return list(EscalationHours.objects.filter(weekday=weekday))


def business_facts_summary() -> str:
    """The business's facts for the agent's instructions, one `- Topic: answer` line each, or "" when
    it has none."""
    return "\n".join(f"- {fact.topic.strip()}: {' '.join(fact.answer.split())}" for fact in BusinessFact.objects.all())


def business_capabilities() -> AgentSettings:
    """What the current business does on the phone (`takes_bookings`, `takes_orders`): the admin's
    sections and the agent's tools follow it. A schema not yet provisioned does both."""
    return AgentSettings.objects.only("capabilities").first() or AgentSettings()
