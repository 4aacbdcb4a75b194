"""Scenario tests in the owner's admin: the scenarios (persona, goal, checks, criteria), "Run all"
(a Celery task, with progress on the run's page), the runs with every result's transcript, tool
calls, checks and the judge's verdicts, and "Check against scenarios" from the agent settings form
(a run against the unsaved settings). The engine is trials/scenario_runs.py."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone

from backoffice.sites import tenant_admin_site
from backoffice.talk import agent_draft_from_form
from core import clock
from scenarios.models import Scenario, ScenarioRun
from trials.scenario_runs import run_is_stale, scenario_run_create
from trials.tasks import scenario_run


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = ["name", "persona", "goal", "criteria", "checks", "setup", "caller_number", "max_turns", "active",
                  "position"]
        widgets = {
            "persona": forms.Textarea(attrs={"rows": 2, "cols": 80}),
            "goal": forms.Textarea(attrs={"rows": 2, "cols": 80}),
            "criteria": forms.Textarea(attrs={"rows": 4, "cols": 80}),
            "checks": forms.Textarea(attrs={"rows": 4, "cols": 80}),
            "setup": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }


def _start_run(request, *, draft_key: str = "") -> HttpResponseRedirect:
    run = scenario_run_create(requested_by=request.user.get_username(), draft_key=draft_key)
    try:
        scenario_run.delay(run.pk)
    except Exception as exc:  # the broker is down: say so on the run's page rather than fail the click
        ScenarioRun.objects.filter(pk=run.pk).update(status=ScenarioRun.Status.FAILED, finished=clock.now(),
                                                     error=f"The run could not be queued ({exc.__class__.__name__}).")
    return HttpResponseRedirect(reverse("admin:scenarios_scenariorun_change", args=[run.pk]))


@admin.register(Scenario, site=tenant_admin_site)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioForm
    list_display = ["name", "goal", "active", "position", "last_result"]
    list_editable = ["active", "position"]
    change_list_template = "admin/soniq/scenario_change_list.html"

    @admin.display(description="Last result")
    def last_result(self, scenario):
        result = scenario.results.order_by("-pk").first()
        if result is None:
            return "—"
        return "pass" if result.passed else "fail"

    def get_urls(self):
        return [
            path("run-all/", self.admin_site.admin_view(self.run_all_view), name="scenarios_scenario_run_all"),
            path("check-draft/", self.admin_site.admin_view(self.check_draft_view),
                 name="scenarios_scenario_check_draft"),
            *super().get_urls(),
        ]

    def _may_run(self, request) -> None:
        if not request.user.has_perm("scenarios.add_scenariorun"):
            raise PermissionDenied

    def run_all_view(self, request):
        self._may_run(request)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:scenarios_scenario_changelist"))
        return _start_run(request)

    def check_draft_view(self, request):
        """From the agent settings form: the unsaved settings against every scenario."""
        self._may_run(request)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:agent_agentsettings_changelist"))
        draft_key, errors = agent_draft_from_form(request)
        if errors:
            for error in errors:
                self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:agent_agentsettings_changelist"))
        return _start_run(request, draft_key=draft_key)


@admin.register(ScenarioRun, site=tenant_admin_site)
class ScenarioRunAdmin(admin.ModelAdmin):
    list_display = ["when", "against", "progress", "status", "requested_by"]
    change_form_template = "admin/soniq/scenariorun_change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Started", ordering="created")
    def when(self, run):
        return timezone.localtime(run.created).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="Settings")
    def against(self, run):
        return "unsaved draft" if run.draft else "saved"

    @admin.display(description="Passed")
    def progress(self, run):
        return f"{run.passed} of {run.completed} ({run.total} scenarios)"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        context = {
            "run": run,
            "results": list(run.results.order_by("pk")) if run else [],
            "stale": bool(run) and run_is_stale(run, now=clock.now()),
            "title": str(run) if run else "Run",
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)
