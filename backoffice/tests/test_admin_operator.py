"""The operator admin on the public host: tenants with numbers and domains, provisioning from a
spec, usage per tenant for a month, and the ingestion dead letters."""
import datetime as dt
import json
import uuid

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from backoffice.tests.factories import call_make
from core import clock
from tenants.models import IngestionDeadLetter, Tenant

NEW_TENANT_SPEC = """
slug: barbers
name: Sharp Barbers
domain: barbers.localhost
timezone: Europe/London
phone_numbers: ["+44 20 7946 0001"]
owner: {email: owner@barbers.example, password: a-long-barbers-password}
hours:
  mon: [["09:00", "18:00"]]
services:
  - {name: Haircut, duration_minutes: 30, capacity: 3, price: "25.00", currency: GBP}
"""


def test_it_lists_tenants_with_their_domains_and_numbers(operator_admin):
    page = operator_admin.get("/admin/tenants/tenant/").content.decode()

    assert "Bella Hair Studio" in page and "Luigi&#x27;s Pizzeria" in page
    assert "salon.localhost" in page and "+15550100001" in page
    assert "pizzeria.localhost" in page and "+493055500002" in page
    assert "New business" in page and "From a YAML spec" in page and "Usage this month" in page


def test_it_sends_add_tenant_to_the_new_business_form(operator_admin):
    response = operator_admin.get("/admin/tenants/tenant/add/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/tenants/tenant/new/"


def test_it_provisions_a_tenant_from_a_yaml_spec(operator_admin):
    response = operator_admin.post("/admin/tenants/tenant/provision/", {"spec": NEW_TENANT_SPEC}, follow=True)

    page = response.content.decode()
    assert "Created Sharp Barbers (barbers)" in page
    tenant = Tenant.objects.get(schema_name="barbers")
    assert list(tenant.phone_numbers.values_list("number", flat=True)) == ["+442079460001"]
    assert list(tenant.domains.values_list("domain", flat=True)) == ["barbers.localhost"]
    with schema_context("barbers"):
        from bookings.models import Service

        assert list(Service.objects.values_list("name", flat=True)) == ["Haircut"]
    connection.set_schema_to_public()


def test_it_reprovisions_an_existing_tenant_as_a_no_op(operator_admin):
    spec = (settings.BASE_DIR / "demo" / "salon.yaml").read_text()
    response = operator_admin.post("/admin/tenants/tenant/provision/", {"spec": spec}, follow=True)
    assert "Updated Bella Hair Studio (salon): nothing to change." in response.content.decode()


def test_it_shows_a_bad_spec_naming_the_field_and_changes_nothing(operator_admin):
    taken = NEW_TENANT_SPEC.replace("+44 20 7946 0001", "+1 555 010 0001")

    response = operator_admin.post("/admin/tenants/tenant/provision/", {"spec": taken})

    page = response.content.decode()
    assert response.status_code == 200
    assert "phone_numbers[0]: +15550100001 already belongs to another tenant (salon)." in page
    assert "nothing was changed" in page
    assert not Tenant.objects.filter(schema_name="barbers").exists()


def test_it_shows_a_typo_in_a_key_with_its_path_and_changes_nothing(operator_admin):
    typo = NEW_TENANT_SPEC.replace("duration_minutes: 30", "duration_mins: 30")

    response = operator_admin.post("/admin/tenants/tenant/provision/", {"spec": typo})

    page = response.content.decode()
    assert response.status_code == 200
    assert "services[0].duration_mins: unknown key (allowed: aliases, buffer_minutes, capacity, currency, " in page
    assert "nothing was changed" in page
    assert not Tenant.objects.filter(schema_name="barbers").exists()


def test_it_refuses_text_that_is_not_yaml(operator_admin):
    response = operator_admin.post("/admin/tenants/tenant/provision/", {"spec": "slug: [unclosed"})
    assert "This is not valid YAML or JSON" in response.content.decode()


def test_it_shows_usage_per_tenant_for_the_month(operator_admin, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC))
    march = dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.UTC)
    with schema_context("salon"):
        call_make(started_at=march, duration_seconds="120", llm_prompt_tokens=1000, llm_completion_tokens=50)
        call_make(started_at=march, duration_seconds="60", llm_prompt_tokens=500, llm_completion_tokens=25)
        call_make(started_at=march - dt.timedelta(days=10), duration_seconds="600", llm_prompt_tokens=9999)
    with schema_context("pizzeria"):
        call_make(started_at=march, called_number="+493055500002", duration_seconds="30", llm_prompt_tokens=300)

    page = operator_admin.get("/admin/tenants/tenant/usage/").content.decode()

    assert "Usage in March 2026 (UTC)" in page
    salon_row = page[page.index("Bella Hair Studio"):].split("</tr>")[0]
    cells = [cell.strip() for cell in salon_row.split('<td class="num">')[1:]]
    assert [cell.split("<")[0] for cell in cells[:4]] == ["2", "3.0", "1,575", "1,500 / 75"]
    pizzeria_row = page[page.index("Luigi"):].split("</tr>")[0]
    assert '<td class="num">1</td>' in pizzeria_row and '<td class="num">0.5</td>' in pizzeria_row
    february = operator_admin.get("/admin/tenants/tenant/usage/?month=2026-02").content.decode()
    assert "Usage in February 2026" in february and "9,999" in february


def test_it_lists_dead_letters_read_only(operator_admin):
    salon = Tenant.objects.get(schema_name="salon")
    dead_letter = IngestionDeadLetter.objects.create(
        tenant=salon, call_id=uuid.uuid4(), payload=json.dumps({"transcript": []}), attempts=5,
        error="Traceback ...\nOperationalError: could not obtain lock on relation",
    )

    page = operator_admin.get("/admin/tenants/ingestiondeadletter/").content.decode()

    assert str(dead_letter.call_id) in page
    assert "OperationalError: could not obtain lock on relation" in page
    assert operator_admin.get("/admin/tenants/ingestiondeadletter/add/").status_code == 403
    assert "Replay selected call logs" in page
    home = operator_admin.get("/admin/").content.decode()
    assert "call logs waiting for a replay" in home


def test_it_is_not_reachable_from_a_tenant_domain(operator_admin):
    # The tenant domains' URLconf has no operator admin: /admin/ there is the tenant's own site.
    response = operator_admin.get("/admin/tenants/tenant/", HTTP_HOST="salon.localhost")
    assert response.status_code in (302, 404)


def test_it_deletes_a_tenant_with_its_schema_and_numbers(committed_db):
    # Committed: PostgreSQL will not drop a schema created earlier in the same transaction.
    from django.contrib.auth import get_user_model
    from django.test import Client

    from provisioning.services import tenant_delete
    from tenants.models import PhoneNumber

    connection.set_schema_to_public()
    user = get_user_model().objects.create_superuser(username="operator-delete-test", email="", password="x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    try:
        client.post("/admin/tenants/tenant/provision/", {"spec": NEW_TENANT_SPEC})
        tenant = Tenant.objects.get(schema_name="barbers")

        response = client.post(f"/admin/tenants/tenant/{tenant.pk}/delete/", {"post": "yes"})

        assert response.status_code == 302
        assert not Tenant.objects.filter(schema_name="barbers").exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'barbers'")
            assert cursor.fetchone() is None
        assert not PhoneNumber.objects.filter(number="+442079460001").exists()
    finally:
        connection.set_schema_to_public()
        for leftover in Tenant.objects.filter(schema_name="barbers"):
            tenant_delete(tenant=leftover)
        user.delete()


def test_it_sends_operator_pages_with_no_store(operator_admin):
    for path in ("/admin/", "/admin/tenants/tenant/", "/admin/tenants/tenant/usage/", "/admin/tenants/tenant/provision/",
                 "/admin/tenants/ingestiondeadletter/"):
        response = operator_admin.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"], path


def test_it_replays_a_dead_letter_from_the_list(operator_admin):
    with schema_context("salon"):
        call = call_make(started_at=dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.UTC))
    connection.set_schema_to_public()
    dead_letter = IngestionDeadLetter.objects.create(
        tenant=Tenant.objects.get(schema_name="salon"), call_id=call.pk, attempts=5, error="OperationalError",
        payload=json.dumps({"transcript": [{"role": "user", "text": "Do you do balayage?", "offset_seconds": 1.5}],
                            "tool_calls": [], "usage": {"llm_prompt_tokens": 700}, "latency": []}),
    )

    response = operator_admin.post("/admin/tenants/ingestiondeadletter/",
                                   {"action": "replay", "_selected_action": [dead_letter.pk]}, follow=True)

    assert "Replayed 1 call log." in response.content.decode()
    dead_letter.refresh_from_db()
    assert dead_letter.replayed_at is not None
    with schema_context("salon"):
        assert list(call.turns.values_list("text", flat=True)) == ["Do you do balayage?"]


def test_it_shows_the_operator_which_tenant_has_follow_ups_that_failed_for_good(operator_admin):
    from notifications.models import Notification

    with schema_context("salon"):
        Notification.objects.create(event="callback", event_key="callback:1", channel="email",
                                    recipient="owner@salon.example", body="A caller asked to be called back.",
                                    status=Notification.Status.FAILED, error="SMTP refused the recipient")
        Notification.objects.create(event="callback", event_key="callback:1", channel="sms",
                                    recipient="+15550109999", body="Callback", status=Notification.Status.SENT)
    connection.set_schema_to_public()

    page = operator_admin.get("/admin/tenants/tenant/").content.decode()

    assert "Failed follow-ups (7 days)" in page
    salon_row = next(row for row in page.split("<tr") if ">salon<" in row)
    pizzeria_row = next(row for row in page.split("<tr") if ">pizzeria<" in row)
    assert ">1<" in salon_row
    assert ">1<" not in pizzeria_row
