"""Celery: "Run all" from the admin. Thin: the run engine is trials/scenario_runs.py."""
from __future__ import annotations

from core.celery_app import app
from scenarios.models import ScenarioRun
from trials.scenario_runs import scenario_run_execute


@app.task(name="trials.scenario_run")
def scenario_run(run_id: int) -> str:
    """Run one queued scenario run in the tenant it was sent from (tenant-schemas-celery switches to
    it). Not retried: a half-run run would run its scenarios twice; the owner can run it again."""
    run = ScenarioRun.objects.filter(pk=run_id, status=ScenarioRun.Status.QUEUED).first()
    if run is None:
        return "gone"
    return scenario_run_execute(run=run).status
