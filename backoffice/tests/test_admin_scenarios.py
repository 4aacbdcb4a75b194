"""Writing scenarios in the owner's admin: a persona and goal in plain words, checks the platform makes
(as JSON, refused with a sentence when malformed) and criteria for the judge, one per line."""
from django_tenants.utils import schema_context

from scenarios.models import Scenario


def a_scenario(**changes) -> dict:
    return {"name": "Move to Thursday", "persona": "You are Maria.", "goal": "Move your Tuesday haircut to Thursday.",
            "criteria": "The agent confirmed the new time before moving it.\n- It never invented a time.",
            "checks": '[{"kind": "tool_called", "tool": "reschedule_booking"}]', "setup": "{}",
            "caller_number": "+15555550199", "max_turns": "8", "active": "on", "position": "9", **changes}


def test_an_owner_writes_a_scenario(salon_admin):
    response = salon_admin.post("/admin/scenarios/scenario/add/", a_scenario())

    assert response.status_code == 302
    with schema_context("salon"):
        scenario = Scenario.objects.get(name="Move to Thursday")
        assert scenario.checks == [{"kind": "tool_called", "tool": "reschedule_booking"}]
        assert scenario.criteria_list() == ["The agent confirmed the new time before moving it.",
                                            "It never invented a time."]
        scenario.delete()


def test_a_malformed_check_or_setup_is_refused_with_a_sentence(salon_admin):
    bad_check = salon_admin.post("/admin/scenarios/scenario/add/", a_scenario(checks='[{"kind": "booking"}]'))
    bad_tool = salon_admin.post("/admin/scenarios/scenario/add/", a_scenario(checks='[{"kind": "tool_called"}]'))
    bad_setup = salon_admin.post("/admin/scenarios/scenario/add/", a_scenario(setup='{"booking": {"service": "Haircut"}}'))
    too_long = salon_admin.post("/admin/scenarios/scenario/add/", a_scenario(max_turns="99"))

    assert "Check 1 needs a kind, one of: tool_called" in bad_check.content.decode()
    assert "needs the tool&#x27;s name" in bad_tool.content.decode() or "needs the tool's name" in bad_tool.content.decode()
    assert "needs a &quot;service&quot; and a &quot;customer_name&quot;" in bad_setup.content.decode()
    assert "less than or equal to 30" in too_long.content.decode()
    with schema_context("salon"):
        assert not Scenario.objects.filter(name="Move to Thursday").exists()
