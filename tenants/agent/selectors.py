from tenants.agent.models import AgentSettings, EscalationHours


def agent_settings_get() -> AgentSettings:
    """The current tenant's agent settings (every provisioned tenant has one row)."""
    settings_row = AgentSettings.objects.first()
    if settings_row is None:
        raise AgentSettings.DoesNotExist("This tenant has no agent settings; provision it first.")
    return settings_row


def escalation_hours_for_weekday(*, weekday: int) -> list[EscalationHours]:
    return list(EscalationHours.objects.filter(weekday=weekday))
