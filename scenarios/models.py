"""Scenario tests of a tenant's agent: a caller persona with a goal, what success means (checks the
platform evaluates itself and criteria a judge model grades), and the stored results of each run.

The run engine (trials/scenario_runs.py) plays the caller with a model against the tenant's real agent;
these models only hold what the owner wrote and what the runs found.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The checks the platform evaluates itself after a run (see trials/scenario_checks.py):
#   {"kind": "tool_called", "tool": "create_booking"}
#   {"kind": "tool_not_called", "tool": "transfer_to_human"}
#   {"kind": "outcome", "outcome": "booked"}
#   {"kind": "booking_exists", "service": "Haircut", "weekday": "thursday", "after": "12:00", "before": "18:00"}
#   {"kind": "order_exists", "item": "Margherita"}
CHECK_KINDS = ("tool_called", "tool_not_called", "outcome", "booking_exists", "order_exists")
DEFAULT_CALLER_NUMBER = "+15555550199"


def validate_checks(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Checks must be a list of objects, e.g. [{\"kind\": \"tool_called\", \"tool\": \"create_booking\"}].")
    for index, check in enumerate(value):
        if not isinstance(check, dict) or check.get("kind") not in CHECK_KINDS:
            raise ValidationError(f"Check {index + 1} needs a kind, one of: {', '.join(CHECK_KINDS)}.")
        if check["kind"] in ("tool_called", "tool_not_called") and not isinstance(check.get("tool"), str):
            raise ValidationError(f"Check {index + 1} ({check['kind']}) needs the tool's name in \"tool\".")
        if check["kind"] == "outcome" and not isinstance(check.get("outcome"), str):
            raise ValidationError(f"Check {index + 1} (outcome) needs the expected outcome in \"outcome\".")


def validate_setup(value) -> None:
    if not isinstance(value, dict) or set(value) - {"booking"}:
        raise ValidationError("The setup is an object with at most a \"booking\".")
    booking = value.get("booking")
    if booking is not None and (not isinstance(booking, dict) or not isinstance(booking.get("service"), str)
                                or not isinstance(booking.get("customer_name"), str)):
        raise ValidationError("The setup's booking needs a \"service\" and a \"customer_name\".")


class Scenario(models.Model):
    name = models.CharField(max_length=120)
    persona = models.TextField(max_length=2000, help_text="Who the caller is, in plain words: \"You are Maria, a "
                                                           "regular customer, a little in a hurry.\"")
    goal = models.TextField(max_length=2000, help_text="What the caller wants: \"Book a women's haircut next "
                                                        "Thursday afternoon.\"")
    checks = models.JSONField(default=list, blank=True, validators=[validate_checks],
                              help_text="Checks the platform evaluates itself, e.g. "
                                        "[{\"kind\": \"tool_called\", \"tool\": \"create_booking\"}, "
                                        "{\"kind\": \"outcome\", \"outcome\": \"booked\"}].")
    criteria = models.TextField(blank=True, max_length=4000,
                                help_text="What a judge model grades, one criterion per line: "
                                          "\"The agent confirmed the time before booking.\"")
    setup = models.JSONField(default=dict, blank=True, validators=[validate_setup],
                             help_text="What exists before the call, e.g. {\"booking\": {\"service\": \"Haircut\", "
                                       "\"customer_name\": \"Maria Lopez\"}}: a booking in the caller's name at the "
                                       "first free time from tomorrow, made for this run and removed with it.")
    caller_number = models.CharField(max_length=20, default=DEFAULT_CALLER_NUMBER,
                                     help_text="The number the simulated caller calls from.")
    max_turns = models.PositiveSmallIntegerField(default=10, validators=[MinValueValidator(1), MaxValueValidator(30)],
                                                 help_text="The caller's turns at most (1–30).")
    active = models.BooleanField(default=True, help_text="Included in \"Run all\".")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.CheckConstraint(condition=models.Q(max_turns__gte=1, max_turns__lte=30),
                                              name="scenario_max_turns_range")]

    def __str__(self) -> str:
        return self.name

    def criteria_list(self) -> list[str]:
        return [line.strip(" -•\t") for line in self.criteria.splitlines() if line.strip(" -•\t")]


class ScenarioRun(models.Model):
    """One "Run all" (or one draft check): its scenarios' results arrive one by one."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Could not run"

    created = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Against unsaved agent settings (the settings form's "check against scenarios"), not the saved ones.
    draft = models.BooleanField(default=False)
    draft_key = models.CharField(max_length=32, blank=True)
    total = models.PositiveSmallIntegerField(default=0)
    completed = models.PositiveSmallIntegerField(default=0)
    passed = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Run of {self.created:%Y-%m-%d %H:%M}" + (" (draft)" if self.draft else "")


class ScenarioResult(models.Model):
    run = models.ForeignKey(ScenarioRun, on_delete=models.CASCADE, related_name="results")
    scenario = models.ForeignKey(Scenario, null=True, on_delete=models.SET_NULL, related_name="results")
    # The scenario as it was run: it may be edited or deleted later.
    scenario_name = models.CharField(max_length=120)
    persona = models.TextField(blank=True)
    goal = models.TextField(blank=True)
    call_id = models.UUIDField(null=True, blank=True)
    passed = models.BooleanField(default=False)
    transcript = models.JSONField(default=list, blank=True)   # [{"role": "caller"|"agent", "text": ...}]
    tool_calls = models.JSONField(default=list, blank=True)   # [{"name", "arguments", "output", "is_error"}]
    checks = models.JSONField(default=list, blank=True)       # [{"check", "passed", "detail"}]
    verdicts = models.JSONField(default=list, blank=True)     # [{"criterion", "passed", "reason"}]
    outcome = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    # What produced the result, so a verdict can be read against the prompt and models of its day.
    agent_model = models.CharField(max_length=100, blank=True)
    caller_model = models.CharField(max_length=100, blank=True)
    judge_model = models.CharField(max_length=100, blank=True)
    instructions_version = models.CharField(max_length=16, blank=True)
    prompt_version = models.CharField(max_length=16, blank=True)
    finished = models.DateTimeField()

    class Meta:
        ordering = ["run", "pk"]

    def __str__(self) -> str:
        return f"{self.scenario_name}: {'pass' if self.passed else 'fail'}"
