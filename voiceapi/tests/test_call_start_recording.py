"""POST /internal/calls/start when the business records its calls: the worker is told to record,
and the disclosure comes before the greeting, in the agent's language unless the owner wrote one."""
import pytest
from django_tenants.utils import schema_context

from tenants.agent.models import AgentSettings
from testing.demo_tenants import PIZZERIA_NUMBER
from voiceapi.tests.voice_api import start_call


@pytest.fixture
def agent_settings(committed_db):
    originals = {}

    def change(schema: str, **values) -> None:
        with schema_context(schema):
            originals.setdefault(schema, AgentSettings.objects.values(*values).get())
            AgentSettings.objects.update(**values)

    yield change
    for schema, values in originals.items():
        with schema_context(schema):
            AgentSettings.objects.update(**values)


def config_of(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()["config"]


def test_a_business_that_records_has_the_disclosure_said_before_its_greeting(api_server, agent_settings):
    agent_settings("salon", record_calls=True)
    with schema_context("salon"):
        greeting = AgentSettings.objects.get().greeting

    config = config_of(start_call(api_server))

    assert config["recording"] == {"enabled": True, "disclosure": "This call is recorded so we can serve you better."}
    assert config["greeting"] == f"This call is recorded so we can serve you better. {greeting}"


def test_the_disclosure_is_in_the_agents_language_or_the_owners_words(api_server, agent_settings):
    agent_settings("pizzeria", record_calls=True, language="es")
    spanish = config_of(start_call(api_server, called_number=PIZZERIA_NUMBER))
    agent_settings("pizzeria", recording_disclosure="  Wir zeichnen dieses Gespräch auf.  ")
    own = config_of(start_call(api_server, called_number=PIZZERIA_NUMBER))

    assert spanish["recording"]["disclosure"] == "Esta llamada se graba para poder atenderle mejor."
    assert spanish["greeting"].startswith("Esta llamada se graba para poder atenderle mejor. ")
    assert own["greeting"].startswith("Wir zeichnen dieses Gespräch auf. ")


def test_a_business_that_does_not_record_says_nothing_about_it(api_server, agent_settings):
    agent_settings("salon", record_calls=False)
    with schema_context("salon"):
        greeting = AgentSettings.objects.get().greeting

    config = config_of(start_call(api_server))

    assert config["recording"] == {"enabled": False, "disclosure": ""}
    assert config["greeting"] == greeting
