"""A real CalDAV server for the tests: Radicale (PyPI), started on loopback in a temporary folder,
with one user and an app password. `stop()` and `start()` keep the port and the data, so a test can
take the server down in the middle of a call and bring it back."""
from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import caldav

USERNAME, PASSWORD = "salon", "app-password-2026"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RadicaleServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="soniq-radicale-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        (self.folder / "users").write_text(f"{USERNAME}:{PASSWORD}\n")
        (self.folder / "config").write_text(f"""
[server]
hosts = 127.0.0.1:{self.port}
[auth]
type = htpasswd
htpasswd_filename = {self.folder / "users"}
htpasswd_encryption = plain
[storage]
filesystem_folder = {self.folder / "collections"}
[rights]
type = owner_only
[logging]
level = warning
""")
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.folder / "config")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("Radicale exited at start") from None
                time.sleep(0.05)
        raise RuntimeError("Radicale did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=USERNAME, password=PASSWORD, timeout=5)

    def make_calendar(self, name: str) -> caldav.Calendar:
        return self.client().principal().make_calendar(name=name)
