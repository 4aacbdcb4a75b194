"""The operator's "New business" form (the same spec underneath, a link for the owner instead of a
password) and "log in as this business's owner" for support, which the owner sees in their admin."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.tests.factories import OPERATOR_HOST, SALON_HOST
from orders.models import MenuItem
from provisioning.services import tenant_delete
from tenants.agent.models import AgentSettings, SupportLogin
from tenants.models import Tenant

NEW_BUSINESS = {"business_type": "restaurant", "name": "Trattoria Sole", "slug": "sole", "domain": "sole.localhost",
                "timezone": "Europe/Berlin", "country": "DE", "phone_number": "030 901820",
                "owner_email": "Chef@Sole.example"}


@pytest.fixture
def operator(committed_db):
    connection.set_schema_to_public()
    user = get_user_model().objects.create_superuser(username="support", email="support@soniq.example", password="x")
    client = Client(HTTP_HOST=OPERATOR_HOST)
    client.force_login(user)
    yield client
    connection.set_schema_to_public()
    for tenant in Tenant.objects.exclude(schema_name__in=["public", "salon", "pizzeria"]):
        tenant_delete(tenant=tenant)
    get_user_model().objects.filter(username="support").delete()


def test_the_operator_creates_a_business_from_the_form_and_the_owner_gets_a_link(operator):
    assert "Business type" in operator.get("/admin/tenants/tenant/new/").content.decode()

    response = operator.post("/admin/tenants/tenant/new/", NEW_BUSINESS)

    assert response.status_code == 302, response.content.decode()[:3000]
    sole = Tenant.objects.get(schema_name="sole")
    assert (sole.name, sole.country, sole.currency, sole.timezone) == ("Trattoria Sole", "DE", "EUR", "Europe/Berlin")
    assert list(sole.phone_numbers.values_list("number", flat=True)) == ["+4930901820"]
    with schema_context("sole"):
        owner = get_user_model().objects.get(username="chef@sole.example")
        assert owner.is_superuser and not owner.has_usable_password()
        assert AgentSettings.objects.get().capabilities == "orders"
        assert MenuItem.objects.filter(currency="EUR").exists()
    (email,) = mail.outbox
    assert email.to == ["chef@sole.example"]
    assert re.search(r"https?://sole\.localhost/admin/password/set/\S+/", email.body)


def test_the_form_refuses_a_number_that_is_not_a_real_one_and_creates_nothing(operator):
    response = operator.post("/admin/tenants/tenant/new/", {**NEW_BUSINESS, "country": "US", "timezone": "America/New_York",
                                                                 "phone_number": "555 0123"})

    assert "is not a valid phone number" in response.content.decode()
    assert not Tenant.objects.filter(schema_name="sole").exists()


def test_the_yaml_box_is_not_prefilled_with_a_password(operator):
    page = operator.get("/admin/tenants/tenant/provision/").content.decode()
    assert "password:" not in page


def test_support_logs_in_as_the_owner_and_the_owner_sees_it(operator):
    salon = Tenant.objects.get(schema_name="salon")
    refused = operator.post(f"/admin/tenants/tenant/{salon.pk}/log-in-as-owner/", {"reason": ""}, follow=True)
    assert "Say why you log in as the owner" in refused.content.decode()

    response = operator.post(f"/admin/tenants/tenant/{salon.pk}/log-in-as-owner/", {"reason": "Ticket 4711"})

    link = response["Location"]
    assert link.startswith("https://salon.localhost/admin/support-login/")
    browser = Client(HTTP_HOST=SALON_HOST)
    assert browser.get(link.split("salon.localhost", 1)[1])["Location"] == "/admin/"
    home = browser.get("/admin/")
    assert home.status_code == 200 and "How your phone line is doing" in home.content.decode()
    audit_page = browser.get("/admin/agent/supportlogin/").content.decode()
    assert "support" in audit_page and "Ticket 4711" in audit_page and "owner@salon.example" in audit_page
    # The link works once.
    assert Client(HTTP_HOST=SALON_HOST).get(link.split("salon.localhost", 1)[1]).status_code == 400
    with schema_context("salon"):
        SupportLogin.objects.all().delete()


def test_a_support_link_for_one_business_does_not_open_another(operator):
    salon = Tenant.objects.get(schema_name="salon")
    link = operator.post(f"/admin/tenants/tenant/{salon.pk}/log-in-as-owner/", {"reason": "x"})["Location"]

    response = Client(HTTP_HOST="pizzeria.localhost").get(link.split("salon.localhost", 1)[1])

    assert response.status_code == 400
    with schema_context("salon"):
        SupportLogin.objects.all().delete()
