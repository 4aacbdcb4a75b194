"""Soniq's own processes as production runs them, for the real-call tests and benches: gunicorn serving the
web app and internal API, and `manage.py runvoiceworker start` (the production worker, forkserver and
all). Each is a child process with its output in a log file; `stop()` is SIGTERM, then SIGKILL."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.livekit import ROOT, free_port


@dataclass
class ChildProcess:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="soniq-", suffix=".log")[1]))
    process: subprocess.Popen | None = None

    def start(self) -> ChildProcess:
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, *, timeout: float, after: int = 0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log()[after:])
            if found:
                return found
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no {pattern!r} in its log within {timeout:.0f} s:\n{self.log()[-4000:]}")

    def signal(self, signum: int) -> None:
        """To the main process only, as `docker stop` or Kubernetes deliver it (its children, the job
        processes, are the worker's to stop)."""
        if self.running():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 20) -> None:
        if self.running():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        if hasattr(self, "_log"):
            self._log.close()


def gunicorn(env: dict[str, str], *, workers: int = 2, threads: int = 4) -> tuple[ChildProcess, str]:
    """The web app and internal API as production serves them; returns the process and its URL."""
    port = free_port()
    web = ChildProcess("gunicorn", [
        sys.executable, "-m", "gunicorn", "soniq_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread", "--timeout", "60",
        "--graceful-timeout", "2"], {**env, "DJANGO_SETTINGS_MODULE": "soniq_site.settings"}).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5):
                return web, url
        except urllib.error.HTTPError:
            return web, url  # it answers (healthz may say something is not ready yet)
        except OSError:
            if not web.running():
                raise RuntimeError(f"gunicorn exited:\n{web.log()[-4000:]}") from None
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {url}:\n{web.log()[-4000:]}")


def voice_worker(env: dict[str, str], *, name: str = "voice-worker", idle_processes: int | None = None) -> ChildProcess:
    """`manage.py runvoiceworker start`, registered with the LiveKit server in `env` once this returns."""
    # VOICE_CPU_FULL=off: the machine is shared with the server, the bridge, the web app and the tests,
    # so its CPU would mark the worker full and no call would be dispatched.
    env = {"VOICE_CPU_FULL": "off", **env, "VOICE_HEALTH_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
    if idle_processes is not None:
        env["VOICE_IDLE_PROCESSES"] = str(idle_processes)
    worker = ChildProcess(name, [sys.executable, "manage.py", "runvoiceworker", "start", "--log-level", "debug"],
                          env).start()
    worker.wait_log(r"registered worker", timeout=90)
    return worker
