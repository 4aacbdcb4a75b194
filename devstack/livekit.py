"""LiveKit's server and SIP bridge on this machine: built once at pinned versions, started on loopback.

`make run`, the real-call tests (`pytest -m realcall`) and `bench/real_call.py` use this module; the
configuration comes from `deploy/livekit/*.yaml`, the same files docker-compose's `livekit` profile
mounts, rendered here with the ports, keys and Redis of the run.

The binaries are Go modules built into `.var/tools/<name>-<version>/` (git-ignored) the first time, and
again only when a pin below changes:
- the server with `go install github.com/livekit/livekit-server/cmd/server@<pin>` (pure Go, CGO off;
  `go install` refuses a tag whose go.mod has `replace` directives, so check before bumping);
- the SIP bridge with `go build` inside `deploy/livekit/sip-build/`, a small module that requires the
  pinned bridge (cgo: Debian's `pkg-config libopus-dev libopusfile-dev libsoxr-dev`). v1.8.0 is the
  newest tag the module proxy serves here (v1.9.0 to v1.11.0 are refused).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "deploy" / "livekit"
TOOLS_DIR = Path(os.environ.get("SONIQ_TOOLS_DIR", ROOT / ".var" / "tools"))

SERVER_MODULE, SERVER_VERSION = "github.com/livekit/livekit-server", "v1.13.5"
SIP_MODULE, SIP_VERSION = "github.com/livekit/sip", "v1.8.0"
SIP_PKG_CONFIG = ("opus", "opusfile", "soxr")
SIP_DEBIAN_PACKAGES = ("pkg-config", "libopus-dev", "libopusfile-dev", "libsoxr-dev")

# The local line's key pair (development and tests only; production reads LIVEKIT_API_KEY/SECRET).
DEV_API_KEY = "devkey"
DEV_API_SECRET = "soniq-local-livekit-secret-0123456789abcdef"


class ToolMissing(RuntimeError):
    """Something to install before the local line can run; the message names it in one line."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_both() -> int:
    """A port free for both UDP and TCP (the SIP bridge listens on both)."""
    for _ in range(100):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP on loopback")


def free_udp_range(size: int) -> tuple[int, int]:
    """`size` consecutive UDP ports nobody holds right now (RTP for the bridge, baresip)."""
    for _ in range(200):
        start = free_port(socket.SOCK_DGRAM)
        if start + size >= 65000:
            continue
        socks = []
        try:
            for port in range(start, start + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {size} free consecutive UDP ports on loopback")


# --- building the pinned binaries --------------------------------------------------------------

def server_binary() -> Path:
    return TOOLS_DIR / f"livekit-server-{SERVER_VERSION}" / "server"


def sip_binary() -> Path:
    return TOOLS_DIR / f"livekit-sip-{SIP_VERSION}" / "livekit-sip"


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise ToolMissing("Go is not installed: install Go 1.26 (https://go.dev/dl/ or Debian's golang) to build "
                          "LiveKit's server and SIP bridge for the local phone line.")
    return go


def _build(target: Path, command: list[str], *, cwd: Path, env: dict[str, str], what: str) -> Path:
    """Run the build once even when several processes ask at the same time (a lock beside the target)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        result = subprocess.run(command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
        if result.returncode != 0 or not target.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ToolMissing(f"building {what} failed ({' | '.join(tail)}); see `{' '.join(command)}` in {cwd}")
    return target


def ensure_server() -> Path:
    target = server_binary()
    if target.exists():
        return target
    return _build(target, [_go(), "install", f"{SERVER_MODULE}/cmd/server@{SERVER_VERSION}"], cwd=ROOT,
                  env={"CGO_ENABLED": "0", "GOBIN": str(target.parent), "GOFLAGS": "-buildvcs=false"},
                  what=f"the LiveKit server {SERVER_VERSION}")


def ensure_sip() -> Path:
    target = sip_binary()
    if target.exists():
        return target
    go = _go()
    pkg_config = shutil.which("pkg-config")
    if not pkg_config or subprocess.run([pkg_config, "--exists", *SIP_PKG_CONFIG]).returncode != 0:
        raise ToolMissing("the SIP bridge needs Opus and SoX's resampler to build: install Debian's "
                          f"{' '.join(SIP_DEBIAN_PACKAGES)}")
    return _build(target, [go, "build", "-o", str(target), f"{SIP_MODULE}/cmd/livekit-sip"],
                  cwd=CONFIG_DIR / "sip-build", env={"CGO_ENABLED": "1", "GOFLAGS": "-buildvcs=false"},
                  what=f"LiveKit's SIP bridge {SIP_VERSION}")


def ensure_binaries() -> tuple[Path, Path]:
    return ensure_server(), ensure_sip()


# --- running them --------------------------------------------------------------------------------

@dataclass
class LineConfig:
    """Where the local line listens. Defaults are the files' own ports (make run); tests pick free ones."""

    redis_url: str
    api_key: str = DEV_API_KEY
    api_secret: str = DEV_API_SECRET
    http_port: int = 7880
    rtc_tcp_port: int = 7881
    rtc_udp_port: int = 7882
    sip_port: int = 5060
    rtp_ports: tuple[int, int] = (10000, 10999)
    sip_health_port: int = 8082
    log_level: str = "info"

    @classmethod
    def free(cls, *, redis_url: str, **kwargs) -> LineConfig:
        return cls(redis_url=redis_url, http_port=free_port(), rtc_tcp_port=free_port(),
                   rtc_udp_port=free_port(socket.SOCK_DGRAM), sip_port=free_port_both(),
                   rtp_ports=free_udp_range(200), sip_health_port=free_port(), **kwargs)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def sip_address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def redis_address(self) -> tuple[str, int]:
        from urllib.parse import urlsplit

        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    def redis_db(self) -> int:
        from urllib.parse import urlsplit

        path = urlsplit(self.redis_url).path.strip("/")
        return int(path) if path.isdigit() else 0

    def settings(self) -> dict[str, str]:
        """The environment Soniq's processes need to use this line (web, Celery, voice worker)."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key, "LIVEKIT_API_SECRET": self.api_secret}

    def server_yaml(self) -> dict:
        config = yaml.safe_load((CONFIG_DIR / "livekit.yaml").read_text())
        host, port = self.redis_address()
        config["port"] = self.http_port
        config["rtc"].update(tcp_port=self.rtc_tcp_port, udp_port=self.rtc_udp_port)
        config["redis"] = {"address": f"{host}:{port}", "db": self.redis_db()}
        config["keys"] = {self.api_key: self.api_secret}
        config["logging"] = {"level": self.log_level}
        return config

    def sip_yaml(self) -> dict:
        config = yaml.safe_load((CONFIG_DIR / "sip.yaml").read_text())
        host, port = self.redis_address()
        config.update(api_key=self.api_key, api_secret=self.api_secret, ws_url=self.url,
                      redis={"address": f"{host}:{port}", "db": self.redis_db()}, sip_port=self.sip_port,
                      rtp_port=f"{self.rtp_ports[0]}-{self.rtp_ports[1]}", health_port=self.sip_health_port,
                      logging={"level": self.log_level})
        return config


@dataclass
class LocalLine:
    """The LiveKit server and its SIP bridge as two child processes; `stop()` ends both."""

    config: LineConfig
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="soniq-line-")))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, *, timeout: float = 60.0) -> LocalLine:
        server, sip = ensure_binaries()
        (self.workdir / "livekit.yaml").write_text(yaml.safe_dump(self.config.server_yaml()))
        (self.workdir / "sip.yaml").write_text(yaml.safe_dump(self.config.sip_yaml()))
        try:
            self._spawn("server", [str(server), "--config", str(self.workdir / "livekit.yaml")])
            self._wait_http(f"{self.config.http_url}/", "server", timeout)
            self._spawn("sip", [str(sip), "--config", str(self.workdir / "sip.yaml")])
            self._wait_http(f"http://127.0.0.1:{self.config.sip_health_port}/", "sip", timeout)
        except BaseException:
            self.stop()  # a line that did not come up leaves nothing running
            raise
        return self

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                                start_new_session=True)

    def _wait_http(self, url: str, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"LiveKit {name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"LiveKit {name} did not answer on {url} within {timeout:.0f} s:\n{self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def closed_calls(self, to_number: str) -> list[dict]:
        """The bridge's "Closing inbound call" records for calls to `to_number` (status, result, reason)."""
        import json

        closed = []
        for line in self.log("sip").splitlines():
            if "Closing inbound call" in line and f'"toUser": "{to_number}"' in line:
                fields = json.loads(line[line.index("{"):])
                closed.append({key: fields.get(key) for key in ("status", "result", "reason", "sipCallID")})
        return closed

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
