"""Saving the agent settings records a change in the history only when something changed: the
browser's CRLF line endings are not a change."""
from django.contrib.admin.models import LogEntry
from django_tenants.utils import schema_context

from backoffice.tests.test_admin_agent_settings import DEMO_HOURS, form_data, settings_page
from tenants.agent.models import AgentSettings


def last_change_message() -> str:
    return LogEntry.objects.order_by("-action_time", "-pk").first().get_change_message()


def test_it_records_no_change_when_only_the_line_endings_differ(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        assert "\n" in agent.instructions
        data = form_data(agent, DEMO_HOURS, instructions=agent.instructions.replace("\n", "\r\n") + "\r\n",
                         greeting=agent.greeting + "  ")

    assert salon_admin.post(url, data).status_code == 302

    with schema_context("salon"):
        assert "Instructions" not in last_change_message() and "Greeting" not in last_change_message()
        assert AgentSettings.objects.get().instructions == agent.instructions


def test_it_records_a_real_change_to_the_instructions(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        data = form_data(agent, DEMO_HOURS, instructions=agent.instructions.replace("\n", "\r\n") + "\r\nBe warm.")

    assert salon_admin.post(url, data).status_code == 302

    with schema_context("salon"):
        assert "Instructions" in last_change_message()
        assert AgentSettings.objects.get().instructions == agent.instructions + "\nBe warm."
