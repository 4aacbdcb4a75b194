"""Celery: "Run all" from the admin. Thin: the run engine is trials/scenario_runs.py."""
from __future__ import annotations

from core.celery_app import app
from notifications.tasks import each_tenant
from scenarios.models import ScenarioRun
from trials.scenario_runs import scenario_run_execute
from voiceapi.trial_calls import trial_calls_sweep


@app.task(name="trials.scenario_run")
def scenario_run(run_id: int) -> str:
    """Run one queued scenario run in the tenant it was sent from (tenant-schemas-celery switches to
    it). Not retried: a half-run run would run its scenarios twice; the owner can run it again."""
    run = ScenarioRun.objects.filter(pk=run_id, status=ScenarioRun.Status.QUEUED).first()
    if run is None:
        return "gone"
    return scenario_run_execute(run=run).status


@app.task(name="trials.trial_calls_sweep")
def trial_calls_sweep_all() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): in every tenant, remove what ended test calls left behind
    (a test call that never sent its log is only closed, as abandoned, by the calls sweep)."""
    return each_tenant(trial_calls_sweep)
