"""`manage.py agent_scenarios --tenant SLUG`: the salon's scenarios against its real agent (real
instructions and tools through the internal API), a caller model playing the persona and a judge
grading the criteria, all played by a local OpenAI-compatible stand-in. Non-zero exit on failure."""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from bookings.models import Booking
from calls.models import Call
from messaging.models import SmsMessage
from scenarios.models import ScenarioResult
from trials.tests.conftest import AGENT_MODEL, CALLER_MODEL, JUDGE_MODEL, last_tool_result

BOOK = ("create_booking", {"service": "Haircut", "start": "2026-03-10T14:00", "customer_name": "Ann Smith",
                           "customer_phone": "+15555550199", "confirmed": True})
CRITERIA = "The agent read the time back before booking.\nThe agent did not invent a price."


def booking_scenario(only_scenario):
    return only_scenario(name="Book a haircut", persona="You are Ann Smith.", goal="Book a haircut tomorrow at 2 pm.",
                         checks=[{"kind": "tool_called", "tool": "create_booking"}, {"kind": "outcome", "outcome": "booked"},
                                 {"kind": "booking_exists", "service": "Haircut", "weekday": "tuesday", "after": "13:00"}],
                         criteria=CRITERIA, max_turns=4)


def script_booking_call(models, *, verdicts: list[dict]) -> None:
    models.queues[CALLER_MODEL] += [{"content": "Hi, a haircut tomorrow at 2 pm please, I'm Ann Smith."},
                                    {"content": "Perfect, thank you, bye! [HANG UP]"}]
    models.queues[AGENT_MODEL] += [{"tool_calls": [BOOK]}, {"content": "You're booked for Tuesday at 2 pm."},
                                   {"content": "Goodbye!", "tool_calls": [("end_call", {"outcome": "booked",
                                                                                        "reason": "Booked"})]}]
    models.queues[JUDGE_MODEL] += [{"content": json.dumps({"verdicts": verdicts})}]


def run_command() -> str:
    out = io.StringIO()
    call_command("agent_scenarios", "--tenant", "salon", stdout=out)
    return out.getvalue()


def test_it_plays_the_scenario_against_the_real_agent_and_passes(models, only_scenario):
    scenario = booking_scenario(only_scenario)
    script_booking_call(models, verdicts=[{"criterion": 1, "pass": True, "reason": "It said Tuesday at 2 pm first."},
                                          {"criterion": 2, "pass": True, "reason": "No price was mentioned."}])

    shown = run_command()

    assert "PASS  Book a haircut" in shown and "1 of 1 scenarios passed." in shown
    # The caller model played the persona and heard the agent's greeting from the tenant's settings.
    caller_prompt = models.seen[CALLER_MODEL][0]["messages"]
    assert "You are Ann Smith." in caller_prompt[0]["content"] and "Book a haircut tomorrow" in caller_prompt[0]["content"]
    assert caller_prompt[1]["content"].startswith("Thanks for calling Bella Hair Studio")
    # The agent ran with the salon's real instructions and tools.
    agent_request = models.seen[AGENT_MODEL][0]
    assert "Bella Hair Studio" in agent_request["messages"][0]["content"]
    assert {tool["function"]["name"] for tool in agent_request["tools"]} >= {"create_booking", "check_availability"}
    # The judge saw the conversation and the criteria.
    judge_prompt = models.seen[JUDGE_MODEL][0]["messages"][0]["content"]
    assert "1. The agent read the time back before booking." in judge_prompt and "create_booking(" in judge_prompt
    with schema_context("salon"):
        result = ScenarioResult.objects.get(scenario=scenario)
        assert result.passed
        assert [check["passed"] for check in result.checks] == [True, True, True]
        assert result.checks[2]["detail"].startswith("Haircut on Tuesday 10 March at 14:00")
        assert [verdict["reason"] for verdict in result.verdicts] == ["It said Tuesday at 2 pm first.",
                                                                      "No price was mentioned."]
        assert result.agent_model == AGENT_MODEL and result.caller_model == CALLER_MODEL
        assert result.judge_model == JUDGE_MODEL and result.prompt_version and result.instructions_version
        assert [turn["role"] for turn in result.transcript][:2] == ["agent", "caller"]
        assert result.tool_calls[0]["name"] == "create_booking"
        # A test call, its booking removed once it ended, nobody texted.
        call = Call.objects.get(pk=result.call_id)
        assert call.is_test and call.status == Call.Status.ENDED
        assert not Booking.objects.filter(call=call).exists()
        assert not SmsMessage.objects.exists()


def test_a_failed_verdict_fails_the_command(models, only_scenario):
    booking_scenario(only_scenario)
    script_booking_call(models, verdicts=[{"criterion": 1, "pass": False, "reason": "It booked without reading back."}])

    with pytest.raises(CommandError) as failed:
        run_command()

    assert "1 scenario(s) failed: Book a haircut" in str(failed.value)
    with schema_context("salon"):
        result = ScenarioResult.objects.get()
        assert not result.passed
        assert result.verdicts[0] == {"criterion": "The agent read the time back before booking.", "passed": False,
                                      "reason": "It booked without reading back."}
        # A criterion the judge did not grade is not a pass.
        assert result.verdicts[1]["passed"] is False


def test_a_platform_check_fails_whatever_the_judge_says(models, only_scenario):
    only_scenario(name="Never transfer", persona="A caller.", goal="Ask for a person.",
                  checks=[{"kind": "tool_not_called", "tool": "transfer_to_human"}], criteria="", max_turns=2)
    models.queues[CALLER_MODEL] += [{"content": "Put me through to a person. [HANG UP]"}]
    models.queues[AGENT_MODEL] += [{"tool_calls": [("transfer_to_human", {"reason": "Asked for a person",
                                                                          "callback_number": "+15555550199"})]},
                                   {"content": "Someone will call you back."}]

    with pytest.raises(CommandError):
        run_command()

    with schema_context("salon"):
        result = ScenarioResult.objects.get()
        assert result.checks[0]["passed"] is False and "transfer_to_human" in result.checks[0]["detail"]
        assert result.verdicts == [] and result.judge_model == ""


def test_an_unknown_business_is_a_clear_error(models):
    with pytest.raises(CommandError) as refused:
        call_command("agent_scenarios", "--tenant", "nosuch")
    assert "There is no business 'nosuch'." in str(refused.value)


def test_a_scenario_starts_from_its_setup_booking_which_the_agent_moves(models, only_scenario):
    from scenarios.starter_sets import BOOKING_SET

    move = next(spec for spec in BOOKING_SET if spec["name"] == "Move a booking")
    only_scenario(**{**move, "checks": [*move["checks"], {"kind": "booking_exists", "weekday": "thursday",
                                                           "after": "13:00"}]})
    models.queues[CALLER_MODEL] += [{"content": "I need to move my appointment to Thursday afternoon."},
                                    {"content": "Yes, that's right. Thanks, bye! [HANG UP]"}]
    models.queues[AGENT_MODEL] += [
        {"tool_calls": [("find_bookings", {})]},
        lambda body: {"tool_calls": [("reschedule_booking", {
            "booking_id": last_tool_result(body)["bookings"][0]["booking_id"], "start": "2026-03-12T14:00",
            "customer_name": "Maria Lopez"})]},
        {"content": "Done: Thursday at 2 pm."},
        {"content": "Goodbye!", "tool_calls": [("end_call", {"outcome": "booked", "reason": "Moved"})]},
    ]
    models.queues[JUDGE_MODEL] += [{"content": json.dumps({"verdicts": [
        {"criterion": 1, "pass": True, "reason": "find_bookings first."},
        {"criterion": 2, "pass": True, "reason": "It confirmed."}]})}]

    shown = run_command()

    assert "PASS  Move a booking" in shown
    # The caller knew what they had booked; the judge was told too.
    assert "Before this call: you have a Haircut booked for Maria Lopez on Tuesday 10 March at 09:00" in \
        models.seen[CALLER_MODEL][0]["messages"][0]["content"]
    assert "Before the call: The caller has a Haircut booked for Maria Lopez" in models.seen[JUDGE_MODEL][0]["messages"][0]["content"]
    with schema_context("salon"):
        result = ScenarioResult.objects.get()
        assert [check["passed"] for check in result.checks] == [True, True, True]
        assert result.checks[2]["detail"].startswith("Haircut on Thursday 12 March at 14:00")
        assert not Booking.objects.exists()  # the setup booking, moved, went with the test call
