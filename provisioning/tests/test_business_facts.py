"""The business's facts: provisioned from the spec, kept in the admin, bounded in total, and put
into every call's instructions with the rule for questions they do not answer."""
import copy
import datetime as dt

import pytest
from django_tenants.utils import schema_context, tenant_context

from bookings.models import BookingPolicy
from calls.services import call_start
from provisioning.services import TenantSpecError, tenant_provision
from provisioning.tests.specs import BARBER_SPEC
from tenants.agent.models import FACTS_TOTAL_MAX, BusinessFact
from voiceapi.call_config import call_config_build

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def instructions(tenant) -> str:
    with tenant_context(tenant):
        call = call_start(called_number=tenant.phone_numbers.first().number, caller_number="+15557654321", now=NOW)
        return call_config_build(tenant=tenant, call=call, now=NOW).instructions


def test_the_salons_facts_are_in_the_instructions_with_the_rule_for_everything_else(salon):
    text = instructions(salon)
    assert "## Facts about the business" in text
    assert "- Parking: Free parking behind the building; the entrance is on Elm Street." in text
    assert "- Payment: We take cash and all major cards, including contactless." in text
    assert "say \"I'm not sure, I can take a message\"" in text and "never guess an answer" in text


def test_the_instructions_say_to_look_bookings_up_and_read_the_change_back(salon, pizzeria):
    salon_text, pizzeria_text = instructions(salon), instructions(pizzeria)
    assert "call find_bookings first and use the booking_id it returns" in salon_text
    assert "read the change back" in salon_text and "wait for the caller's yes" in salon_text
    assert "order_status" not in salon_text
    assert "call order_status" in pizzeria_text and "find_bookings" not in pizzeria_text
    assert "## Facts about the business" not in pizzeria_text  # the pizzeria has none


@pytest.fixture
def barber_spec():
    return copy.deepcopy(BARBER_SPEC)


def test_facts_and_the_change_notice_are_provisioned_from_the_spec(provisioned, barber_spec):
    barber_spec["facts"] = [{"topic": "Walk-ins", "answer": "Welcome before noon."},
                            {"topic": "Payment", "answer": "Cards only."}]
    barber_spec["booking_rules"] = {"change_notice_hours": 12}
    result = tenant_provision(spec=barber_spec)
    with schema_context("barber"):
        assert BookingPolicy.objects.get().change_notice_hours == 12
        assert list(BusinessFact.objects.values_list("topic", "answer")) == [("Walk-ins", "Welcome before noon."),
                                                                             ("Payment", "Cards only.")]
    barber_spec["facts"] = [{"topic": "Payment", "answer": "Cards and cash."}]
    assert "facts replaced" in tenant_provision(spec=barber_spec).changes
    with schema_context("barber"):
        assert list(BusinessFact.objects.values_list("topic", "answer")) == [("Payment", "Cards and cash.")]
    assert "facts replaced" not in tenant_provision(spec=barber_spec).changes
    assert result.created


@pytest.mark.parametrize(("facts", "field"), [
    ([{"topic": f"Topic {n}", "answer": "x" * 900} for n in range(5)], "facts"),   # too long in total
    ([{"topic": "Parking", "answer": "Yes"}, {"topic": "parking", "answer": "No"}], "facts[1].topic"),
    ([{"topic": "Parking"}], "facts[0].answer"),
    ([{"topic": "Parking", "answer": "Yes", "price": 3}], "facts[0].price"),
])
def test_a_bad_facts_list_is_refused_naming_the_field(provisioned, barber_spec, facts, field):
    barber_spec["facts"] = facts
    with pytest.raises(TenantSpecError) as refused:
        tenant_provision(spec=barber_spec)
    assert refused.value.field == field


def test_the_admin_refuses_a_fact_that_makes_the_list_too_long(salon_admin):
    page = salon_admin.post("/admin/agent/businessfact/add/", {"topic": "History", "answer": "x" * 1000, "position": 3})
    assert page.status_code == 302
    for position in range(4, 7):
        salon_admin.post("/admin/agent/businessfact/add/", {"topic": f"More {position}", "answer": "y" * 1000,
                                                            "position": position})
    with schema_context("salon"):
        total = sum(len(fact.topic) + len(fact.answer) for fact in BusinessFact.objects.all())
        assert total <= FACTS_TOTAL_MAX
        assert BusinessFact.objects.count() == 5  # the two demo facts, History and two of the three more
    refused = salon_admin.post("/admin/agent/businessfact/add/", {"topic": "One more", "answer": "z" * 900, "position": 9})
    assert refused.status_code == 200 and "keep them under" in refused.content.decode()
