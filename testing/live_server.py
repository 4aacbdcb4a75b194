"""Test helpers shared by every app's tests: the demo tenants, a real HTTP server on the test
database, and cleaning up what committed tests wrote.

Why not pytest-django's `transactional_db` or `live_server`: both flush every table Django knows
after a test, and in the public schema that includes the tenants themselves. Tests that must
commit (a live server, a Celery worker, concurrent requests) use `committed_db` instead, which
truncates only the call activity of the demo tenants afterwards.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connection
from django_tenants.utils import schema_context

DEMO_SCHEMAS = ("salon", "pizzeria")

# Tables that calls, tools and logs fill; tenant configuration (settings, hours, services, menu,
# users) is left alone so the demo tenants stay provisioned for the whole session.
ACTIVITY_TABLES = (
    "calls_call", "calls_transcriptturn", "calls_toolinvocation", "calls_callnote", "calls_callbackrequest",
    "calls_callbackattempt", "calls_donotcall",
    "calls_smsmessage", "calls_idempotencyrecord", "bookings_booking", "orders_order", "orders_orderline",
    # Follow-ups, and the recipients and endpoints the tests set up for them.
    "summaries_callsummary", "notifications_notification", "notifications_notificationsettings",
    "webhooks_webhookdelivery", "webhooks_webhookendpoint",
    # Scenario runs and their results (the scenarios themselves are configuration).
    "scenarios_scenariorun", "scenarios_scenarioresult",
    # Connected calendars (their busy times, events and fallbacks go with them).
    "calendars_calendarconnection",
)


def truncate_activity(schemas: tuple[str, ...] = DEMO_SCHEMAS) -> None:
    from django.db import OperationalError

    for attempt in range(5):
        try:
            with connection.cursor() as cursor:
                for schema in schemas:
                    tables = ", ".join(f'"{schema}"."{table}"' for table in ACTIVITY_TABLES)
                    cursor.execute(f"TRUNCATE {tables} CASCADE")
            break
        except OperationalError as exc:
            # A Celery task of the test that just ended (a summary, a test call's clean-up) may still
            # hold a row lock the TRUNCATE's table locks wait on, in the other order: PostgreSQL breaks
            # the deadlock by failing one side; the task retries on its own, this cleanup tries again.
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    connection.set_schema_to_public()


@contextmanager
def in_schema(schema_name: str) -> Iterator[None]:
    with schema_context(schema_name):
        yield


class _QuietRequestHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the stdlib
        pass


class _TestHTTPServer(ThreadedWSGIServer):
    # The stdlib's default listen backlog (5) resets connections when 50 callers arrive at once.
    request_queue_size = 128


class LiveServer:
    """Django served over real HTTP from a thread, one thread (and DB connection) per request."""

    def __init__(self) -> None:
        self.httpd = _TestHTTPServer(("127.0.0.1", 0), _QuietRequestHandler, allow_reuse_address=False)
        # StaticFilesHandler serves the admin's CSS/JS (as runserver does), so browser tests and
        # their screenshots see the real pages.
        self.httpd.set_app(StaticFilesHandler(WSGIHandler()))
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url_for_host(self, host: str) -> str:
        """A URL whose Host is a tenant domain: `*.localhost` resolves to loopback."""
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
