"""Scenario runs: a caller model plays each scenario's persona, in text, against the tenant's real
agent — its real instructions and tools, through the real internal API, as `manage.py callsim` does
— as a test call (voiceapi/trial_calls.py), so what it books or orders is marked test and removed when
the call's log arrives. Then the platform evaluates the scenario's checks itself (before that log
removes the evidence), and a judge model grades its criteria. Results are stored with the models and
prompt versions that produced them.

Why the internal API and not the services directly: the run must exercise exactly what a caller
exercises (the worker's tools, their error sentences, the API's checks), or a pass means little.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F
from django_tenants.utils import schema_context

from bookings.models import Booking, Service
from bookings.services import booking_create
from calls.models import Call
from core import clock
from core.errors import DomainError
from orders.models import Order
from scenarios.models import Scenario, ScenarioResult, ScenarioRun
from tenants.agent.selectors import agent_settings_get
from tenants.models import Tenant
from trials.models_io import caller_next_line, judge_verdicts, prompt_version, scenario_llm_client
from voiceapi.trial_calls import agent_settings_with_draft, trial_grant_issue

logger = logging.getLogger("trials")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Conversation:
    call_id: str = ""
    outcome: str = ""
    agent_model: str = ""
    transcript: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)
    before: str = ""  # what the scenario's setup made, in words


# --- the platform's own checks -----------------------------------------------------------------

def _check_booking(check: dict, *, call_id: str, tz) -> tuple[bool, str]:
    bookings = Booking.objects.filter(call_id=call_id, status=Booking.Status.CONFIRMED).select_related("service")
    for booking in bookings:
        local = booking.start.astimezone(tz)
        if check.get("service") and check["service"].lower() not in booking.service.name.lower():
            continue
        if check.get("weekday") and WEEKDAYS[local.weekday()] != check["weekday"].lower():
            continue
        if check.get("after") and local.strftime("%H:%M") < check["after"]:
            continue
        if check.get("before") and local.strftime("%H:%M") >= check["before"]:
            continue
        return True, f"{booking.service.name} on {local:%A %d %B at %H:%M}"
    return False, "no booking from this call matches" if bookings else "the call made no booking"


def _check_order(check: dict, *, call_id: str) -> tuple[bool, str]:
    orders = Order.objects.filter(call_id=call_id).prefetch_related("lines")
    for order in orders:
        names = [line.name for line in order.lines.all()]
        if not check.get("item") or any(check["item"].lower() in name.lower() for name in names):
            return True, ", ".join(names)
    return False, "no order from this call matches" if orders else "the call made no order"


def checks_evaluate(*, checks: list[dict], conversation: Conversation, tz) -> list[dict]:
    """Each check with passed and what was found, in the current tenant schema."""
    succeeded = [call["name"] for call in conversation.tool_calls if not call["is_error"]]
    results = []
    for check in checks:
        kind = check.get("kind")
        if kind == "tool_called":
            passed, detail = check["tool"] in succeeded, f"tools called: {', '.join(succeeded) or 'none'}"
        elif kind == "tool_not_called":
            passed, detail = check["tool"] not in succeeded, f"tools called: {', '.join(succeeded) or 'none'}"
        elif kind == "outcome":
            passed, detail = conversation.outcome == check["outcome"], f"the call ended as {conversation.outcome or 'nothing'}"
        elif kind == "booking_exists":
            passed, detail = _check_booking(check, call_id=conversation.call_id, tz=tz)
        elif kind == "order_exists":
            passed, detail = _check_order(check, call_id=conversation.call_id)
        else:
            passed, detail = False, f"unknown check {kind!r}"
        results.append({"check": check, "passed": passed, "detail": detail})
    return results


def setup_booking_make(*, setup: dict, call_id: str, caller_number: str, now: dt.datetime, tz) -> str:
    """The booking a scenario starts from, made by the run's own test call (so it is the caller's to
    move, and removed with the call): the first free start from tomorrow. Returns what it is, in words."""
    spec = setup.get("booking")
    if not spec:
        return ""
    services = Service.objects.filter(active=True)
    service = services.filter(name__iexact=spec["service"]).first() if spec["service"] else services.order_by("pk").first()
    if service is None:
        raise RuntimeError(f"The scenario's setup books {spec['service'] or 'a service'!r}, which the business does not offer.")
    call = Call.objects.get(pk=call_id)
    today = now.astimezone(tz).date()
    for days in range(1, 15):
        for hour in range(9, 18):
            start = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour), tzinfo=tz)
            try:
                booking_create(service=service, start=start, customer_name=spec["customer_name"],
                               customer_phone=caller_number, call=call, now=now, minimum_notice=False)
            except DomainError:
                continue  # closed, taken, outside the hours: the next hour
            return f"a {service.name} booked for {spec['customer_name']} on {start:%A %d %B at %H:%M}"
    raise RuntimeError("The scenario's setup found no free time for its booking in the next two weeks.")


def _setup_in_thread(*, schema_name: str, **kwargs) -> str:
    try:
        with schema_context(schema_name):
            return setup_booking_make(**kwargs)
    finally:
        connection.close()


def _checks_in_thread(*, schema_name: str, checks: list[dict], conversation: Conversation, tz) -> list[dict]:
    # Runs in a worker thread while the event loop waits: its own connection, closed afterwards.
    try:
        with schema_context(schema_name):
            return checks_evaluate(checks=checks, conversation=conversation, tz=tz)
    finally:
        connection.close()


# --- one conversation --------------------------------------------------------------------------

async def _converse(*, scenario: dict, grant: str, schema_name: str, tz) -> Conversation:
    """The conversation, the checks and the judge's verdicts. The call's log is sent (which ends the
    test call and removes what it made) after the checks have looked at it."""
    from livekit.agents import AgentSession

    from voiceworker.agent import SoniqAgent
    from voiceworker.api_client import SoniqApiClient
    from voiceworker.call_control import LoggingCallControl
    from voiceworker.call_job import build_call, send_log
    from voiceworker.call_logger import CallLogger
    from voiceworker.providers import MAX_TOOL_STEPS, build_llm

    conversation = Conversation()
    client = scenario_llm_client()
    api = SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN)
    try:
        start = await api.start_call(called_number="", caller_number=scenario["caller_number"],
                                     room=f"scenario-{uuid.uuid4().hex[:12]}", sip_call_id="scenario",
                                     test_grant=grant)
        config = start.config
        conversation.call_id = start.call_id
        conversation.agent_model = config.llm.model
        if scenario["setup"]:
            conversation.before = await asyncio.to_thread(
                _setup_in_thread, schema_name=schema_name, setup=scenario["setup"], call_id=start.call_id,
                caller_number=scenario["caller_number"], now=clock.now(), tz=tz)
        goal = scenario["goal"] + (f" (Before this call: you have {conversation.before}.)" if conversation.before else "")
        session = AgentSession(llm=build_llm(config), vad=None, turn_handling={"turn_detection": None},
                               max_tool_steps=MAX_TOOL_STEPS)
        session, call = build_call(start, api=api, control=LoggingCallControl(echo=lambda text: None),
                                   vad_model=None, session=session)

        def on_item(event: Any) -> None:
            item = event.item
            if getattr(item, "type", None) == "message" and item.text_content and item.role in ("user", "assistant"):
                conversation.transcript.append({"role": "agent" if item.role == "assistant" else "caller",
                                                "text": item.text_content})

        def on_tools(event: Any) -> None:
            for function_call, output in event.zipped():
                try:
                    arguments = json.loads(function_call.arguments or "{}")
                except ValueError:
                    arguments = {"raw": function_call.arguments}
                conversation.tool_calls.append({"name": function_call.name, "arguments": arguments,
                                                "output": output.output if output is not None else "",
                                                "is_error": bool(output is not None and output.is_error)})

        session.on("conversation_item_added", on_item)
        session.on("function_tools_executed", on_tools)
        await session.start(SoniqAgent(instructions=config.instructions, tools_offered=list(config.tools)),
                            record=False)
        try:
            if config.greeting:
                await session.say(config.greeting)
            for _ in range(scenario["max_turns"]):
                if call.over:
                    break
                line, hangs_up = await caller_next_line(client, persona=scenario["persona"], goal=goal,
                                                        transcript=conversation.transcript)
                if line:
                    await session.run(user_input=line)
                if hangs_up:
                    break
            call.settle(outcome=call.recorder.inferred_outcome(), end_reason="The simulated caller hung up.")
            conversation.outcome = call.outcome
            conversation.checks = await asyncio.to_thread(
                _checks_in_thread, schema_name=schema_name, checks=scenario["checks"], conversation=conversation, tz=tz)
        finally:
            await session.aclose()
            await send_log(call, call_logger=CallLogger(api_url=settings.SONIQ_API_URL,
                                                           spool_dir=settings.VOICE_SPOOL_DIR))
        conversation.verdicts = await judge_verdicts(client, criteria=scenario["criteria"],
                                                     transcript=conversation.transcript,
                                                     tool_calls=conversation.tool_calls,
                                                     before=f"The caller has {conversation.before}." if conversation.before else "")
    finally:
        await api.aclose()
        await client.close()
    return conversation


# --- runs --------------------------------------------------------------------------------------

def scenario_run_create(*, requested_by: str, draft_key: str = "") -> ScenarioRun:
    """A queued run of every active scenario (against the draft settings when `draft_key`)."""
    return ScenarioRun.objects.create(created=clock.now(), requested_by=requested_by[:150], draft=bool(draft_key),
                                      draft_key=draft_key, total=Scenario.objects.filter(active=True).count())


def _instructions_version(draft_key: str) -> str:
    instructions = agent_settings_with_draft(saved=agent_settings_get(), draft_key=draft_key).instructions
    return hashlib.sha256(instructions.encode()).hexdigest()[:12]


def scenario_result_record(*, run: ScenarioRun, scenario: Scenario, conversation: Conversation, error: str,
                           instructions_version: str) -> ScenarioResult:
    checks_passed = all(check["passed"] for check in conversation.checks)
    verdicts_passed = all(verdict["passed"] for verdict in conversation.verdicts)
    result = ScenarioResult.objects.create(
        run=run, scenario=scenario, scenario_name=scenario.name, persona=scenario.persona,
        goal=scenario.goal + (f" (Before the call: {conversation.before}.)" if conversation.before else ""),
        call_id=conversation.call_id or None, passed=not error and checks_passed and verdicts_passed,
        transcript=conversation.transcript, tool_calls=conversation.tool_calls, checks=conversation.checks,
        verdicts=conversation.verdicts, outcome=conversation.outcome, error=error,
        agent_model=conversation.agent_model, caller_model=settings.SCENARIO_CALLER_MODEL,
        judge_model=settings.SCENARIO_JUDGE_MODEL if scenario.criteria_list() else "",
        instructions_version=instructions_version, prompt_version=prompt_version(), finished=clock.now(),
    )
    # Progress for the admin's run page: one UPDATE per scenario, no read-modify-write race.
    ScenarioRun.objects.filter(pk=run.pk).update(completed=F("completed") + 1, passed=F("passed") + int(result.passed))
    return result


def scenario_run_execute(*, run: ScenarioRun) -> ScenarioRun:
    """Run every active scenario of the current tenant, one after the other, recording each result
    as it finishes. A scenario that cannot run (a model down, the API refusing) is a failed result
    with the reason; the others still run."""
    tenant: Tenant = connection.tenant
    ScenarioRun.objects.filter(pk=run.pk).update(status=ScenarioRun.Status.RUNNING)
    try:
        instructions_version = _instructions_version(run.draft_key)
    except Exception as exc:  # the draft expired: nothing can run against it
        ScenarioRun.objects.filter(pk=run.pk).update(status=ScenarioRun.Status.FAILED, error=str(exc),
                                                     finished=clock.now())
        run.refresh_from_db()
        return run
    scenarios = list(Scenario.objects.filter(active=True))
    ScenarioRun.objects.filter(pk=run.pk).update(total=len(scenarios))
    for scenario in scenarios:
        grant = trial_grant_issue(schema_name=tenant.schema_name, user=f"scenario run {run.pk}",
                                 draft_key=run.draft_key)
        spec = {"caller_number": scenario.caller_number, "persona": scenario.persona, "goal": scenario.goal,
                "setup": scenario.setup,
                "max_turns": scenario.max_turns, "checks": scenario.checks, "criteria": scenario.criteria_list()}
        conversation, error = Conversation(), ""
        try:
            conversation = asyncio.run(_converse(scenario=spec, grant=grant, schema_name=tenant.schema_name,
                                                 tz=tenant.tzinfo))
        except Exception as exc:
            logger.warning("scenario %s of run %s could not run: %s", scenario.pk, run.pk, exc)
            error = f"The scenario could not run: {exc}"
        scenario_result_record(run=run, scenario=scenario, conversation=conversation, error=error,
                               instructions_version=instructions_version)
    ScenarioRun.objects.filter(pk=run.pk).update(status=ScenarioRun.Status.DONE, finished=clock.now())
    run.refresh_from_db()
    return run


def run_is_stale(run: ScenarioRun, *, now: dt.datetime) -> bool:
    """A queued run nobody picked up within an hour (no Celery worker): shown as such."""
    return run.status == ScenarioRun.Status.QUEUED and now - run.created > dt.timedelta(hours=1)
