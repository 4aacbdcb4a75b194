"""Scenario runs need the real internal API over HTTP and a local stand-in for every model: the
agent's, the simulated caller's and the judge's (one OpenAI-compatible server, answering by model)."""
import datetime as dt
import os

import pytest
from django_tenants.utils import schema_context

os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

from voiceworker.tests.fakes import FakeOpenAI  # noqa: E402

CALLER_MODEL, JUDGE_MODEL, AGENT_MODEL = "test-caller", "test-judge", "gpt-4.1-mini"
# Monday 9 March 2026, 10:00 in New York: Tuesday 14:00 is free at the salon.
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


class ModelScripts:
    """What each model says next, by the model the request names."""

    def __init__(self) -> None:
        self.queues: dict[str, list] = {AGENT_MODEL: [], CALLER_MODEL: [], JUDGE_MODEL: []}
        self.seen: dict[str, list[dict]] = {AGENT_MODEL: [], CALLER_MODEL: [], JUDGE_MODEL: []}

    def __call__(self, body: dict) -> dict:
        model = body["model"]
        self.seen[model].append(body)
        queue = self.queues[model]
        step = queue.pop(0) if queue else {"content": "Okay."}
        # A callable step reads the request (what a tool returned, say) to decide what the model says.
        return step(body) if callable(step) else step


def last_tool_result(body: dict) -> dict:
    """What the latest tool returned to the model, from an OpenAI chat request."""
    import json

    for message in reversed(body["messages"]):
        if message["role"] == "tool":
            return json.loads(message["content"])["result"]
    raise AssertionError("no tool result in the request")


@pytest.fixture
def models(settings, api_server, committed_db, tmp_path, monkeypatch):
    server = FakeOpenAI()
    scripts = ModelScripts()
    server.steps = [scripts] * 500
    settings.SONIQ_API_URL = api_server.url
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = server.base_url
    settings.SCENARIO_LLM_BASE_URL = server.base_url
    settings.SCENARIO_CALLER_MODEL = CALLER_MODEL
    settings.SCENARIO_JUDGE_MODEL = JUDGE_MODEL
    settings.VOICE_SPOOL_DIR = str(tmp_path / "spool")
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)
    yield scripts
    server.stop()


@pytest.fixture
def only_scenario(committed_db):
    """Makes the salon run only the scenarios a test creates; the starting set is put back after."""
    from scenarios.models import Scenario

    made: list[int] = []

    def create(**fields):
        with schema_context("salon"):
            scenario = Scenario.objects.create(**fields)
        made.append(scenario.pk)
        return scenario

    with schema_context("salon"):
        active = list(Scenario.objects.filter(active=True).values_list("pk", flat=True))
        Scenario.objects.update(active=False)
    yield create
    with schema_context("salon"):
        Scenario.objects.filter(pk__in=made).delete()
        Scenario.objects.filter(pk__in=active).update(active=True)
