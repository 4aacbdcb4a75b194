"""Session-wide test setup: the test database gets the two demo tenants once (creating a schema
means running every tenant migration, so tests share them rather than make their own)."""
import pytest
from django.core.management import call_command
from django.db import connection, connections

from core import after_response
from testing.live_server import LiveServer, truncate_activity

# A real Celery worker and a local SignalWire (calls, messaging and API tests); a local LiveKit SIP
# service (the SIP trunk sync, in tenants and the operator admin); admin clients for the demo owners;
# Chromium for the browser tests.
pytest_plugins = ["testing.celery_worker", "testing.followups", "tenants.tests.sip_fixtures", "backoffice.tests.admin_clients",
                  "backoffice.tests.browser"]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb,
                    django_db_modify_db_settings):
    """pytest-django's setup, but always for the default database (tests that use `committed_db`
    carry no django_db mark) and with the demo tenants provisioned once."""
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        db_config = setup_databases(verbosity=request.config.option.verbose, interactive=False,
                                    aliases={"default"}, serialized_aliases=set(), keepdb=keepdb)
        call_command("seed_demo", verbosity=0)
        truncate_activity()
    # Failed admin logins from earlier runs (kept 15 minutes in Redis) must not lock out this one's.
    from backoffice.login_throttle import login_failures_reset_all

    login_failures_reset_all()
    yield
    if not keepdb:
        with django_db_blocker.unblock():
            # Live-server request threads and worker processes may still hold connections, and
            # PostgreSQL refuses to drop a database anyone is connected to.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            connections.close_all()
            teardown_databases(db_config, verbosity=request.config.option.verbose)


@pytest.fixture(autouse=True)
def _internal_api_token(settings):
    settings.INTERNAL_API_TOKEN = "test-internal-token"


@pytest.fixture
def salon(db):
    from tenants.models import Tenant

    return Tenant.objects.get(schema_name="salon")


@pytest.fixture
def pizzeria(db):
    from tenants.models import Tenant

    return Tenant.objects.get(schema_name="pizzeria")


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Database access without a wrapping transaction: what the test writes is committed and visible
    to servers and workers. Call activity is truncated afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            # A test server in this process may still be running a request's follow-ups after its
            # answer (core/after_response.py): they must not write into the tables being emptied.
            after_response.idle(timeout=10)
            truncate_activity()
            from bookings.verification import verification_counters_reset

            # Failed identity checks are counted per caller number for an hour (issue 29, item 3):
            # one test's wrong guesses must not lock the next test's caller out.
            verification_counters_reset()


@pytest.fixture(scope="session")
def api_server(django_db_setup, django_db_blocker):
    """The real Django app over HTTP on the test database (public host: http://127.0.0.1:<port>)."""
    server = LiveServer()
    yield server
    server.stop()
