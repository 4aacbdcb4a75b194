"""Fixtures for the calls app's tests.

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

ROOT = Path(__file__).resolve().parents[2]

# Small numbers so retry and dead-letter paths finish in well under a second; every task in the
# worker sees them.
WORKER_TEST_ENV = {
    "CALL_LOG_STORE_MAX_RETRIES": "2",
    "CALL_LOG_RETRY_BACKOFF_MS": "100",
    "CALL_LOG_LOCK_TIMEOUT_MS": "200",
    "SMS_SEND_MAX_RETRIES": "2",
    "SMS_RETRY_BACKOFF_MS": "50",
}


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


# `signalwire_fake` and `celery_worker_process` live in the root conftest.py: the notification,
# webhook and summary tests share the one worker (two workers on one queue would take each
# other's tasks).
