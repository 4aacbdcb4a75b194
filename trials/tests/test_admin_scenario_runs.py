"""Scenarios in the owner's admin: the starting set, "Run all" (the Celery task, run eagerly here),
the run's page with progress, checks and verdicts, and "Check against scenarios" from the agent
settings form, which runs against the unsaved instructions."""
import json

import pytest
from django_tenants.utils import schema_context

from backoffice.tests.factories import PIZZERIA_HOST, PIZZERIA_OWNER, SALON_HOST, SALON_OWNER, owner_client
from scenarios.models import ScenarioRun
from tenants.agent.models import AgentSettings
from trials.tests.conftest import AGENT_MODEL, CALLER_MODEL, JUDGE_MODEL


@pytest.fixture
def eager_celery():
    """"Run all" queues a Celery task; here it runs in the request that queues it."""
    from core.celery_app import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def one_question_scenario(only_scenario):
    return only_scenario(name="Parking", persona="You drive.", goal="Ask whether there is parking.",
                         checks=[{"kind": "tool_not_called", "tool": "create_booking"}],
                         criteria="The agent answered from its facts.", max_turns=2)


def script(models, *, judge_passes: bool = True) -> None:
    models.queues[CALLER_MODEL] += [{"content": "Is there parking? [HANG UP]"}]
    models.queues[AGENT_MODEL] += [{"content": "Yes, behind the building."}]
    models.queues[JUDGE_MODEL] += [{"content": json.dumps({"verdicts": [
        {"criterion": 1, "pass": judge_passes, "reason": "It quoted the parking fact."}]})}]


def test_each_business_starts_with_scenarios_for_what_it_does(committed_db):
    salon = owner_client("salon", SALON_HOST, SALON_OWNER[0]).get("/admin/scenarios/scenario/").content.decode()
    pizzeria = owner_client("pizzeria", PIZZERIA_HOST, PIZZERIA_OWNER[0]).get("/admin/scenarios/scenario/").content.decode()

    for name in ("Book an appointment", "Move a booking", "Cancel a booking", "Opening hours", "Prices",
                 "Ask for a person", "Out of scope"):
        assert name in salon
    for name in ("Place an order", "Order status", "Delivery question", "Item not on the menu"):
        assert name in pizzeria
    assert "Place an order" not in salon and "Book an appointment" not in pizzeria
    assert 'data-testid="run-all"' in salon


def test_run_all_runs_every_scenario_and_shows_the_verdicts(models, only_scenario, eager_celery):
    one_question_scenario(only_scenario)
    script(models)
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])

    started = owner.post("/admin/scenarios/scenario/run-all/")

    assert started.status_code == 302
    page = owner.get(started["Location"])
    html = page.content.decode()
    assert 'data-testid="run-progress"' in html and "Done: 1 of 1 scenarios done, 1 passed." in html
    assert "Parking" in html and "It quoted the parking fact." in html
    assert "Yes, behind the building." in html  # the transcript
    assert 'http-equiv="refresh"' not in html  # finished: the page stops refreshing
    with schema_context("salon"):
        run = ScenarioRun.objects.get()
        assert run.requested_by == SALON_OWNER[0] and not run.draft


def test_a_queued_run_shows_its_progress_and_refreshes(committed_db):
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    from core import clock

    with schema_context("salon"):
        run = ScenarioRun.objects.create(created=clock.now(), total=7, completed=3, passed=2,
                                         status=ScenarioRun.Status.RUNNING)
    html = owner.get(f"/admin/scenarios/scenariorun/{run.pk}/change/").content.decode()

    assert "Running: 3 of 7 scenarios done, 2 passed." in html
    assert 'http-equiv="refresh"' in html


def test_an_instruction_change_is_checked_against_the_scenarios_before_it_is_saved(models, only_scenario, eager_celery):
    one_question_scenario(only_scenario)
    script(models, judge_passes=False)
    owner = owner_client("salon", SALON_HOST, SALON_OWNER[0])
    form = owner.get("/admin/agent/agentsettings/1/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data.update(instructions="Never talk about parking.", voice_id_typed="")
    with schema_context("salon"):
        saved = AgentSettings.objects.get().instructions

    started = owner.post("/admin/scenarios/scenario/check-draft/", data)

    assert started.status_code == 302
    html = owner.get(started["Location"]).content.decode()
    assert "Against the <strong>unsaved</strong> agent settings." in html and "0 passed" in html
    # The agent ran with the draft instructions; the saved ones are untouched.
    assert models.seen[AGENT_MODEL][0]["messages"][0]["content"].startswith("Never talk about parking.")
    with schema_context("salon"):
        assert AgentSettings.objects.get().instructions == saved
        assert ScenarioRun.objects.get().draft


def test_front_desk_staff_cannot_run_scenarios(committed_db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    with schema_context("salon"):
        clerk = get_user_model().objects.create_user(username="desk2@salon.example", is_staff=True)
        clerk.groups.add(Group.objects.get(name="Front desk"))
    client = Client(HTTP_HOST=SALON_HOST)
    with schema_context("salon"):
        client.force_login(clerk)
    try:
        assert client.post("/admin/scenarios/scenario/run-all/").status_code == 403
        assert client.get("/admin/scenarios/scenario/").status_code == 403
    finally:
        with schema_context("salon"):
            clerk.delete()
