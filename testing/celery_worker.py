"""Test fixtures for every package whose tests need a real Celery worker (loaded by the root conftest).

`celery_worker_process`: a real Celery worker — a separate `celery worker` process, prefork pool —
consuming from this test run's Redis and writing to the TEST database, so tasks run exactly as in
production (tenant-schemas-celery headers, JSON serialisation, retries through the broker), not
in eager mode. Session-scoped: starting one costs a few seconds. Tests that use it must also use
`committed_db`, or the worker cannot see what they wrote.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]

# Small numbers so retry and dead-letter paths finish in well under a second; every task in the
# worker sees them.
WORKER_TEST_ENV = {
    "CALL_LOG_STORE_MAX_RETRIES": "2",
    "CALL_LOG_RETRY_BACKOFF_MS": "100",
    "CALL_LOG_LOCK_TIMEOUT_MS": "200",
    "SMS_SEND_MAX_RETRIES": "2",
    "SMS_RETRY_BACKOFF_MS": "50",
}


# Settings a session adds to its worker before it starts (the real-call tests point it at the local
# LiveKit line); and the workers started so far, so a late addition can be refused.
EXTRA_WORKER_ENV: dict[str, str] = {}
started_workers: list[CeleryWorkerProcess] = []


def database_url_for_test_db() -> str:
    """DATABASE_URL of the database pytest-django created (test_<name>), for another process."""
    from django.db import connection

    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or ""
    if host.startswith("/"):
        # A Unix-socket directory: settings.database_from_url reads it from ?host=.
        return f"postgres://{credentials}localhost/{quote(db['NAME'], safe='')}?host={quote(host, safe='/')}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host or '127.0.0.1'}{port}/{quote(db['NAME'], safe='')}"


class CeleryWorkerProcess:
    def __init__(self, *, env: dict[str, str], concurrency: int = 2) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="soniq-celery-worker-", suffix=".log")[1])
        self._log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "soniq_site", "worker", "--pool=prefork",
             f"--concurrency={concurrency}", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
             "--without-mingle", "-n", f"pytest-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited with {self.process.returncode}:\n{self.log()}")
            if re.search(r"\bready\.", self.log()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"The Celery worker was not ready after {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM is a warm shutdown: tasks in progress finish first.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()
        self.log_path.unlink(missing_ok=True)


# Small numbers so the follow-ups' retry paths finish in well under a second.
FOLLOWUPS_WORKER_ENV = {
    "NOTIFICATION_MAX_RETRIES": "2",
    "NOTIFICATION_RETRY_BACKOFF_MS": "100",
    "WEBHOOK_RETRY_SCHEDULE": "0.3,0.3,0.3",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_ALLOW_PRIVATE": "1",
    # One attempt per tenant at a time (the worker has two processes): a tenant's slow receivers
    # leave the other process to everyone else (webhooks/tests/test_tenant_isolation.py).
    "WEBHOOK_TENANT_CONCURRENCY": "1",
    "WEBHOOK_TENANT_BUSY_RETRY_SECONDS": "0.5",
    "SUMMARY_TIMEOUT_SECONDS": "2",
    "SITE_SCHEME": "http",
}


@pytest.fixture(scope="session")
def signalwire_fake():
    """A fake SignalWire Messages API on a free port (messaging/tests/signalwire_fake.py). The worker is
    pointed at it; tests in this process point `settings` at it with `signalwire_fake.settings()`."""
    from messaging.tests.signalwire_fake import FakeSignalWire

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
def google_fake():
    """A local Google (OAuth and Calendar API) for calendar sync (calendars/tests/google_fake.py)."""
    from calendars.tests.google_fake import GoogleFake

    fake = GoogleFake()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, signalwire_fake, smtp_server, llm_server, google_fake,
                          api_server):
    """One real Celery worker for the whole run (see the module docstring): the calls, messaging,
    notifications, webhooks and summaries tests share it, as two workers on one queue would take each
    other's tasks. `.log()` is its output so far (INFO level: received, retried, succeeded tasks).
    Its SMS go to `signalwire_fake`, its mail to `smtp_server`, its summaries to `llm_server`, its
    Google Calendar requests to `google_fake`."""
    from core.celery_app import app

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
        # Calendar sync: Google is the local stand-in; push channels point at the live server.
        **google_fake.settings(),
        "CALENDAR_PUBLIC_URL": api_server.url,
        "CALENDAR_PUSH_MAX_RETRIES": "2",
        "CALENDAR_RETRY_BACKOFF_MS": "100",
        **EXTRA_WORKER_ENV,
    }
    # Tasks left in the queues by an earlier, interrupted run would run against this run's data.
    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues or [app.conf.task_default_queue]:
            connection.default_channel.queue_purge(getattr(queue, "name", queue))
    worker = CeleryWorkerProcess(env=env)
    started_workers.append(worker)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
