import pytest
from django.db import IntegrityError

from tenants.models import PhoneNumber
from tenants.selectors import tenant_for_called_number


@pytest.mark.parametrize("called", ["+1 (555) 010-0001", "15550100001", "+15550100001", "5550100001"])
def test_it_finds_the_tenant_by_the_called_number_in_any_format(salon, called):
    assert tenant_for_called_number(called_number=called) == salon


def test_it_finds_nobody_for_an_unknown_or_garbage_number(db):
    assert tenant_for_called_number(called_number="+15550109999") is None
    assert tenant_for_called_number(called_number="not a number") is None


def test_the_database_refuses_a_number_owned_twice(salon, pizzeria):
    with pytest.raises(IntegrityError):
        PhoneNumber.objects.create(number="+15550100001", tenant=pizzeria)


def test_the_database_refuses_a_number_that_is_not_e164(salon):
    with pytest.raises(IntegrityError):
        PhoneNumber.objects.create(number="555-0100", tenant=salon)
