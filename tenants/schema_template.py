"""The migrated template schema new tenants are cloned from.

Running every tenant migration for a new schema took ~680 ms per tenant; copying the structure of
a schema that is already migrated takes a fraction of that (see docs/BENCHMARKS.md, "Tenants at
scale"). django-tenants ships a clone (TENANT_BASE_SCHEMA with its `clone_schema` SQL function),
but here that function alone took 430-570 ms per schema, plus ~100-150 ms for the `migrate --fake`
it runs afterwards, and `--fake` would record migrations a stale template never had. So the
clone is done here in one round trip: the template's tables (LIKE, with identity columns), then
its constraints and indexes by their own names (so later migrations that drop or rename them
by name find them), then its rows (the migration records, content types and permissions).

Even that copy is ~150-400 ms of catalog work on a small machine (one CREATE per table, index
and constraint), so a few copies are made ahead of time: spare schemas (`_spare_<hex>`). Provisioning
takes one and renames it to the tenant's slug (one catalog update, inside the provisioning
transaction: if provisioning fails, the rename rolls back and the spare stays a spare), then asks
Celery to make another. Only when no current spare is left does it copy the template itself.

The template is only as good as it is current. `migrate_schemas` keeps it so: every run over all
tenant schemas also creates the template if it is missing and migrates it first (this module's
executor, GET_EXECUTOR_FUNCTION in settings), then drops the spares made before the run and makes
new ones. A template or spare that lacks a migration this code knows
is never cloned: provisioning then falls back to running the migrations (slow, but right).
It is not a Tenant row: no domain, no number, never served, never listed. Its name starts with an
underscore, which no tenant slug can (slugs start with a letter).
"""
from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.db import connection
from django_tenants.migration_executors import get_executor as django_tenants_get_executor
from django_tenants.utils import schema_exists

logger = logging.getLogger(__name__)


def template_schema_name() -> str | None:
    return getattr(settings, "TENANT_TEMPLATE_SCHEMA", None) or None


def template_schema_ensure() -> bool:
    """Create the (empty) template schema if it is missing; the migrations then fill it.
    Returns whether it was created."""
    name = template_schema_name()
    if not name or schema_exists(name):
        return False
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
    return True


def get_executor(codename: str | None = None):
    """django-tenants' executor (standard or multiprocessing, as chosen by --executor), which also
    migrates the template schema whenever all tenant schemas are migrated."""
    base = django_tenants_get_executor(codename)

    class TemplateKeepingExecutor(base):
        def run_migrations(self, tenants=None):
            tenants = list(tenants or [])
            name = template_schema_name()
            # migrate_schemas passes [public] for the shared apps, [schema] for --schema, and every
            # tenant otherwise: only the last is a deploy's run over all tenants.
            all_tenants = self.options.get("schema_name") is None and tenants != [self.PUBLIC_SCHEMA_NAME]
            if name and all_tenants and name not in tenants:
                template_schema_ensure()
                # First: a migration that fails fails on the template before it touches a tenant,
                # and tenants created during the run are cloned from the migrated template.
                tenants.insert(0, name)
            super().run_migrations(tenants=tenants)
            if name and all_tenants:
                spare_schemas_fill()

    TemplateKeepingExecutor.__name__ = f"TemplateKeeping{base.__name__}"
    return TemplateKeepingExecutor


@functools.cache
def _known_migrations() -> frozenset[tuple[str, str]]:
    """Every migration of this code (the code does not change while the process runs)."""
    from django.db.migrations.loader import MigrationLoader

    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# The template's structure, read with the template alone on the search path so that references
# to its own tables come back unqualified (and land in the new schema when replayed there).
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind = 'r' ORDER BY c.relname"""
# Foreign keys last: they need the other tables' primary keys and unique constraints.
_CONSTRAINTS = """
SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND con.contype IN ('p', 'u', 'c', 'x', 'f')
ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'c' THEN 2 WHEN 'x' THEN 3 ELSE 4 END, c.relname, con.conname"""
# Indexes that no constraint owns (those come with their constraint).
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname = %(schema)s AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
ORDER BY ic.relname"""
_SEQUENCES = """
SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND a.attidentity <> '' AND NOT a.attisdropped"""
_UNSUPPORTED = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm', 'p', 'f'))
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s)
     + (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n
        ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND NOT t.tgisinternal)
     + (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n
        ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND a.attgenerated <> '')"""


def _clone_sql(template: str, schema_name: str, cursor) -> str | None:
    """The statements that make `schema_name` a copy of the template, or None when the template
    holds something this copy does not reproduce (views, functions, triggers, generated columns:
    no migration here makes any; one that does gets the slow path until this learns it)."""
    params = {"schema": template}
    cursor.execute(_UNSUPPORTED, params)
    if cursor.fetchone()[0]:
        logger.warning("The template schema %s holds views, functions, triggers or generated columns; "
                       "provisioning runs the migrations instead of cloning it.", template)
        return None
    cursor.execute(f"SET LOCAL search_path = {_quote(template)}")
    cursor.execute(_TABLES, params)
    tables = [row[0] for row in cursor.fetchall()]
    cursor.execute(_CONSTRAINTS, params)
    constraints = cursor.fetchall()
    cursor.execute(_INDEXES, params)
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(_SEQUENCES, params)
    sequences = cursor.fetchall()
    source, target = _quote(template), _quote(schema_name)
    statements = [f"CREATE SCHEMA {target}", f"SET LOCAL search_path = {target}, public"]
    inline: dict[str, list[str]] = {table: [] for table in tables}
    foreign: dict[str, list[str]] = {}
    for table, name, kind, definition in constraints:
        clause = f"CONSTRAINT {_quote(name)} {definition}"
        (foreign.setdefault(table, []) if kind == "f" else inline[table]).append(clause)
    for table in tables:
        # NOT NULL always comes with LIKE; identity columns get sequences of their own in the new
        # schema (named as PostgreSQL names them, as in a migrated schema). Constraints go inside
        # CREATE TABLE and foreign keys in one ALTER per table: each DDL statement costs catalog work.
        elements = [f"LIKE {source}.{_quote(table)} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING STORAGE "
                    "INCLUDING COMMENTS", *inline[table]]
        statements.append(f"CREATE TABLE {target}.{_quote(table)} ({', '.join(elements)})")
    for table, clauses in foreign.items():
        statements.append(f"ALTER TABLE {target}.{_quote(table)} " + ", ".join(f"ADD {clause}" for clause in clauses))
    # pg_get_indexdef names the table with its schema; the template's name is a plain identifier.
    for definition in indexes:
        statements.append(definition.replace(f" ON {template}.", f" ON {target}.", 1))
    for table in tables:
        statements.append(f"INSERT INTO {target}.{_quote(table)} SELECT * FROM {source}.{_quote(table)}")
    for table, column, sequence in sequences:
        sequence_name = sequence.rsplit(".", 1)[-1]
        statements.append(
            f"SELECT setval(pg_get_serial_sequence('{target}.{_quote(table)}', '{column}'), last_value, is_called) "
            f"FROM {source}.{sequence_name}")
    return ";\n".join(statements)


def _applied_migrations(cursor, schema: str) -> set[tuple[str, str]]:
    cursor.execute(f"SELECT app, name FROM {_quote(schema)}.django_migrations")
    return set(cursor.fetchall())


def template_schema_clone(*, schema_name: str) -> bool:
    """Create `schema_name` as a copy of the current template, inside the caller's transaction.
    False (and nothing done) if there is no current template to copy."""
    template = template_schema_name()
    if not template or not schema_exists(template):
        return False
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        missing = _known_migrations() - _applied_migrations(cursor, template)
        if missing:
            logger.warning("The template schema %s lacks %d migration(s) (run migrate_schemas); provisioning "
                           "runs the migrations instead of cloning it.", template, len(missing))
            return False
        # SET LOCAL needs a transaction; outside one this is the clone's own.
        from django.db import transaction

        with transaction.atomic():
            sql = _clone_sql(template, schema_name, cursor)
            if sql is None:
                return False
            cursor.execute(sql)
            cursor.execute("SET LOCAL search_path = public")
    # django-tenants tracks the search path it set; make it set it again on the next query.
    connection.set_schema_to_public()
    return True


SPARE_PREFIX = "_spare_"


def spare_schema_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname",
                       [SPARE_PREFIX])
        return [row[0] for row in cursor.fetchall()]


def spare_schema_claim(*, schema_name: str) -> bool:
    """Rename a current spare schema to `schema_name`, inside the caller's transaction. False if
    there is none to take."""
    if not template_schema_name():
        return False
    connection.set_schema_to_public()
    known = _known_migrations()
    with connection.cursor() as cursor:
        for spare in spare_schema_names():
            # Two provisionings at once must not rename the same spare: the second would wait on
            # the first's catalog row and then fail. The lock is the transaction's; a rollback
            # frees it and leaves the spare unrenamed.
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [spare])
            if not cursor.fetchone()[0]:
                continue
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [spare])
            if cursor.fetchone() is None:  # taken (and committed) since the list was read
                continue
            if known - _applied_migrations(cursor, spare):
                continue  # made before a deploy's migrations; the next fill replaces it
            cursor.execute(f"ALTER SCHEMA {_quote(spare)} RENAME TO {_quote(schema_name)}")
            connection.set_schema_to_public()
            return True
    return False


def spare_schemas_fill(*, count: int | None = None) -> int:
    """Drop spares that lack a migration, then copy the template until `count` spares exist
    (TENANT_SPARE_SCHEMAS by default). Each copy commits on its own. Returns how many were made."""
    import secrets

    from django.db import transaction

    wanted = settings.TENANT_SPARE_SCHEMAS if count is None else count
    template = template_schema_name()
    if not template or not schema_exists(template):
        return 0
    connection.set_schema_to_public()
    known = _known_migrations()
    current = 0
    with connection.cursor() as cursor:
        for spare in spare_schema_names():
            with transaction.atomic():
                cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [spare])
                if not cursor.fetchone()[0]:
                    continue  # being claimed right now
                if known - _applied_migrations(cursor, spare):
                    cursor.execute(f"DROP SCHEMA {_quote(spare)} CASCADE")
                else:
                    current += 1
    made = 0
    while current + made < wanted:
        with transaction.atomic():
            if not template_schema_clone(schema_name=f"{SPARE_PREFIX}{secrets.token_hex(6)}"):
                break
        made += 1
    return made
