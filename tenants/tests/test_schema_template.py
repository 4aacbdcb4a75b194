"""New tenants are copies of the migrated template schema (tenants/schema_template.py): a spare copy
renamed, or a fresh copy, or (template missing or behind the code) the migrations themselves."""
import datetime as dt
import zoneinfo

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from provisioning.services import tenant_delete, tenant_provision
from tenants import schema_template, tasks
from tenants.models import Tenant

TEMPLATE = "_tenant_template"
SPEC = {
    "slug": "florist", "name": "Petal Florist", "domain": "florist.localhost", "timezone": "Europe/London",
    "phone_numbers": ["+44 20 7946 0101"],
    "hours": {"mon": [["09:00", "17:00"]]},
    "services": [{"name": "Bouquet Consultation", "duration_minutes": 30}],
}


@pytest.fixture
def provisioned(committed_db, monkeypatch):
    """Tenants made here are deleted afterwards; the spares they took are made again. Celery is not
    asked: the requests are recorded instead."""
    refills = []
    monkeypatch.setattr(tasks.tenant_spare_schemas_fill, "delay", lambda: refills.append(True))
    connection.set_schema_to_public()
    yield refills
    connection.set_schema_to_public()
    for tenant in Tenant.objects.exclude(schema_name__in=["public", "salon", "pizzeria"]):
        tenant_delete(tenant=tenant)
    schema_template.spare_schemas_fill()


def catalog(schema: str) -> dict:
    """What a migration defines in a schema, without the schema's name."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY 1, 2""", [schema])
        columns = cursor.fetchall()
        cursor.execute("""
            SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s ORDER BY 1, 2""", [schema])
        constraints = [(table, name, kind, definition.replace(f"{schema}.", ""))
                       for table, name, kind, definition in cursor.fetchall()]
        cursor.execute("""
            SELECT ic.relname, replace(pg_get_indexdef(i.indexrelid), %s, '')
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
            WHERE n.nspname = %s ORDER BY 1""", [f"{schema}.", schema])
        indexes = cursor.fetchall()
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY 1, 2')
        migrations = cursor.fetchall()
        cursor.execute(f'SELECT app_label, model FROM "{schema}".django_content_type ORDER BY 1, 2')
        content_types = cursor.fetchall()
        cursor.execute(f'SELECT count(*) FROM "{schema}".auth_permission')
        permissions = cursor.fetchone()[0]
    return {"columns": columns, "constraints": constraints, "indexes": indexes, "migrations": migrations,
            "content_types": content_types, "permissions": permissions}


def test_it_makes_the_new_tenant_a_full_copy_of_the_migrated_template(provisioned):
    expected = catalog(TEMPLATE)

    tenant_provision(spec=SPEC)

    copied = catalog("florist")
    assert copied == expected
    assert len(copied["columns"]) > 100 and len(copied["indexes"]) > 50
    # Every migration of the code is recorded, so the next deploy's migrate_schemas applies only new ones.
    assert set(copied["migrations"]) == set(schema_template._known_migrations())
    assert len(copied["content_types"]) > 20 and copied["permissions"] > 80


def test_it_takes_a_spare_and_asks_for_another(provisioned):
    spares = schema_template.spare_schema_names()
    assert spares, "migrate_schemas (the test database's setup) leaves spares ready"

    tenant_provision(spec=SPEC)

    assert len(schema_template.spare_schema_names()) == len(spares) - 1
    assert schema_exists("florist")
    assert provisioned == [True]  # Celery is asked for a new spare, after the commit


def test_it_copies_the_template_when_no_spare_is_left_and_a_booking_can_be_made(provisioned):
    with connection.cursor() as cursor:
        for spare in schema_template.spare_schema_names():
            cursor.execute(f'DROP SCHEMA "{spare}" CASCADE')

    tenant_provision(spec=SPEC)

    from bookings.voice import create_booking

    london = zoneinfo.ZoneInfo("Europe/London")
    with tenant_context(Tenant.objects.get(schema_name="florist")):
        outcome = create_booking(service_name="bouquet consultation", start="2030-01-07T10:00",
                                 customer_name="Ada Lovelace", customer_phone="+44 20 7946 0102",
                                 now=dt.datetime(2030, 1, 1, 12, tzinfo=london))
    assert outcome.result["start"] == "2030-01-07T10:00:00+00:00"
    assert outcome.result["booking_id"]
    # The copied identity sequences start where the template's left off: no duplicate keys.
    from django.contrib.auth.models import Permission

    with tenant_context(Tenant.objects.get(schema_name="florist")):
        Permission.objects.create(name="probe", codename="probe", content_type_id=1)


def test_a_spare_made_before_a_new_migration_is_not_used(provisioned):
    stale = schema_template.spare_schema_names()
    with connection.cursor() as cursor:
        for spare in stale:
            cursor.execute(f'DELETE FROM "{spare}".django_migrations WHERE id = (SELECT max(id) FROM "{spare}".django_migrations)')

    tenant_provision(spec=SPEC)

    # Copied from the (current) template instead; the stale spares stay until the next fill drops them.
    assert schema_template.spare_schema_names() == stale
    assert set(catalog("florist")["migrations"]) == set(schema_template._known_migrations())
    assert schema_template.spare_schemas_fill() == len(stale)
    assert not set(stale) & set(schema_template.spare_schema_names())


def test_a_template_behind_the_code_falls_back_to_running_the_migrations(provisioned, monkeypatch):
    known = schema_template._known_migrations()
    monkeypatch.setattr(schema_template, "_known_migrations", lambda: known | {("bookings", "9999_not_in_template")})

    tenant_provision(spec=SPEC)

    assert set(catalog("florist")["migrations"]) == set(known)  # the migrations ran, nothing was faked


def test_a_failed_provisioning_leaves_the_spare_in_place(provisioned, monkeypatch):
    from provisioning import services

    spares = schema_template.spare_schema_names()

    def broken(spec, changes):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_write_tenant_schema", broken)
    with pytest.raises(RuntimeError):
        tenant_provision(spec=SPEC)

    assert schema_template.spare_schema_names() == spares
    assert not schema_exists("florist") and not Tenant.objects.filter(schema_name="florist").exists()
    assert provisioned == []


def test_migrate_schemas_creates_the_template_and_the_spares_when_they_are_missing(provisioned):
    with connection.cursor() as cursor:
        for schema in [TEMPLATE, *schema_template.spare_schema_names()]:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')

    call_command("migrate_schemas", verbosity=0)

    assert set(catalog(TEMPLATE)["migrations"]) == set(schema_template._known_migrations())
    assert len(schema_template.spare_schema_names()) == 2
    assert catalog(schema_template.spare_schema_names()[0]) == catalog(TEMPLATE)
