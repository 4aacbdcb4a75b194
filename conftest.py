"""Session-wide test setup: the test database gets the two demo tenants once (creating a schema
means running every tenant migration, so tests share them rather than make their own)."""
import pytest
from django.core.management import call_command
from django.db import connection, connections

from soniq_site.testing import LiveServer, truncate_activity


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
    from soniq_site.login_throttle import login_failures_reset_all

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
            truncate_activity()


@pytest.fixture(scope="session")
def api_server(django_db_setup, django_db_blocker):
    """The real Django app over HTTP on the test database (public host: http://127.0.0.1:<port>)."""
    server = LiveServer()
    yield server
    server.stop()


# --- the real Celery worker and the local servers it talks to ------------------------------------
# Session-wide (not in calls/tests/conftest.py) because the calls, notifications, webhooks and
# summaries tests share ONE worker: two workers on one queue would take each other's tasks.

# Small numbers so retry paths finish in well under a second.
FOLLOWUPS_WORKER_ENV = {
    "NOTIFICATION_MAX_RETRIES": "2",
    "NOTIFICATION_RETRY_BACKOFF_MS": "100",
    "WEBHOOK_RETRY_SCHEDULE": "0.3,0.3,0.3",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_ALLOW_PRIVATE": "1",
    "SUMMARY_TIMEOUT_SECONDS": "2",
    "SITE_SCHEME": "http",
}


@pytest.fixture(scope="session")
def signalwire_fake():
    """A fake SignalWire Messages API on a free port (calls/tests/signalwire_fake.py). The worker is
    pointed at it; tests in this process point `settings` at it with `signalwire_fake.settings()`."""
    from calls.tests.signalwire_fake import FakeSignalWire

    fake = FakeSignalWire()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; the worker sends its mail there."""
    from notifications.tests.fakes import FakeSMTP

    server = FakeSMTP()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llm_server():
    """A local OpenAI-compatible chat-completions endpoint; the worker's summaries ask it."""
    from notifications.tests.fakes import FakeLLM

    server = FakeLLM()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, signalwire_fake, smtp_server, llm_server):
    """A real Celery worker on the test database and this run's Redis (calls/tests/conftest.py
    explains why). `.log()` is its output so far (INFO level: received, retried, succeeded tasks).
    Its SMS go to `signalwire_fake`, its mail to `smtp_server`, its summaries to `llm_server`."""
    import os

    from django.conf import settings

    from calls.tests.conftest import WORKER_TEST_ENV, CeleryWorkerProcess, database_url_for_test_db
    from soniq_site.celery import app

    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_test_db(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        **WORKER_TEST_ENV,
        **FOLLOWUPS_WORKER_ENV,
        **signalwire_fake.settings(),
        **smtp_server.settings(),
        **llm_server.settings(),
    }
    # Tasks left in the queue by an earlier, interrupted run would run against this run's data.
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    worker = CeleryWorkerProcess(env=env)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
