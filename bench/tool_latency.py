"""Latency of the voice tools under 20 concurrent callers, against a production-style server.

    .venv/bin/python bench/tool_latency.py [--callers 20] [--rounds 15] [--think-ms 500] [--skip-setup]

What it does:
1. Prepares a bench database (default `soniq_bench`, on the PostgreSQL of $DATABASE_URL): creates it
   if missing, `migrate_schemas`, `seed_demo`, and empties the call activity of the demo tenants.
2. Starts gunicorn (gthread, 4 workers × 4 threads by default, DEBUG off, a SECRET_KEY, no SSL
   redirect) on a free port, waits for /healthz, and warms every worker up (not measured).
3. Each of N callers (threads, one keep-alive HTTP session each) starts a salon call, then for R
   rounds: check_availability, create_booking (an Idempotency-Key each; random slots over the next
   weeks, so most succeed and some meet a realistic 409 slot_taken), log_note, and GET /healthz
   (the trivial endpoint: one SELECT 1 and one Redis PING) — all on the same server in the same run.
4. Prints p50/p95/p99 per endpoint as the callers saw them (client side, including the HTTP client
   in this process) and as gunicorn measured them (server side, from its access log).

`--think-ms` is the mean pause between a caller's requests (default 500 ms: 20 callers then offer
~40 requests/s, still ten times denser than real calls, which make a tool call every few seconds).
0 is a closed loop: every caller fires its next request the moment the last one returns, which
measures the server saturated — latency is then concurrency ÷ throughput. Both are worth reading.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zoneinfo
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.dev import free_port  # noqa: E402 - the project root is on the path only now
from testing.demo_tenants import SALON_NUMBER  # noqa: E402

INTERNAL_TOKEN = "bench-internal-token"
SALON_TZ = zoneinfo.ZoneInfo("America/New_York")
# Wall-clock starts that fit Haircut (45+15 min) and Blow Dry (30 min) on every salon opening day.
SLOT_TIMES = ["09:00", "09:30", "10:00", "10:30", "11:00", "13:30", "14:00"]
SERVICES = ["Haircut", "Blow Dry"]


def bench_database_url(name: str) -> str:
    base = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/soniq"))
    return urlunparse(base._replace(path=f"/{name}"))


def server_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,.localhost",
        "INTERNAL_API_TOKEN": INTERNAL_TOKEN,
        "LOG_LEVEL": "ERROR",
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare_database(database_url: str, *, skip_setup: bool) -> None:
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
            skip_setup = False
    env = server_env(database_url)
    if not skip_setup:
        print(f"[bench] migrating and seeding {name} ...", flush=True)
        manage(env, "migrate_schemas", "--noinput", "-v", "0")
        manage(env, "seed_demo", "-v", "0")
    with psycopg.connect(database_url, autocommit=True) as db:
        for schema in ("salon", "pizzeria"):
            db.execute(
                f'TRUNCATE "{schema}".calls_call, "{schema}".calls_callnote, "{schema}".calls_idempotencyrecord, '
                f'"{schema}".calls_callbackrequest, "{schema}".calls_smsmessage, "{schema}".bookings_booking, '
                f'"{schema}".orders_order, "{schema}".orders_orderline CASCADE'
            )


class Server:
    def __init__(self, database_url: str, *, workers: int, threads: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = Path(tempfile.mkstemp(prefix="soniq-bench-access-", suffix=".log")[1])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "soniq_site.wsgi", "-k", "gthread", "-w", str(workers),
             "--threads", str(threads), "-b", f"127.0.0.1:{self.port}", "--keep-alive", "30",
             "--access-logfile", str(self.access_log), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",
             "--log-level", "warning"],
            cwd=ROOT, env=server_env(database_url), start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        # Generous: on a machine loaded by other work, four workers importing Django take a while.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit("gunicorn did not answer /healthz")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def server_timings(self) -> dict[str, list[float]]:
        """Milliseconds per endpoint from gunicorn's access log (request handling, without the client)."""
        timings: dict[str, list[float]] = defaultdict(list)
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) != 4:
                continue
            method, path, _status, micros = parts
            timings[endpoint_name(method, path)].append(int(micros) / 1000)
        return timings


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children: the gunicorn arbiter and workers."""
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_backend_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench database."""
    import psutil
    import psycopg

    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as db:
        pids = [pid for (pid,) in db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]).fetchall()]
    cpu: dict[int, float] = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        cpu[pid] = times.user + times.system
    return cpu


def endpoint_name(method: str, path: str) -> str:
    if path.startswith("/internal/voice-tools/"):
        return path.rsplit("/", 1)[1]
    if path == "/internal/calls/start":
        return "call_start"
    if path == "/healthz":
        return "healthz"
    return f"{method} {path}"


def bookable_days(today: dt.date, days: int = 55) -> list[dt.date]:
    """Tuesday–Saturday from the day after tomorrow (minimum notice) inside the 60-day horizon,
    without the seeded closures."""
    closures = {dt.date(2026, 12, 25), dt.date(2027, 1, 1)}
    candidates = (today + dt.timedelta(days=offset) for offset in range(2, days))
    return [day for day in candidates if day.weekday() in (1, 2, 3, 4, 5) and day not in closures]


class Caller(threading.Thread):
    def __init__(self, number: int, *, base_url: str, rounds: int, think: float, days: list[dt.date],
                 barrier: threading.Barrier) -> None:
        super().__init__(name=f"caller-{number}")
        self.number, self.base_url, self.rounds, self.think, self.days = number, base_url, rounds, think, days
        self.barrier = barrier
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.random = random.Random(number)
        self.error: BaseException | None = None

    def request(self, session: requests.Session, name: str, method: str, path: str, **kwargs) -> requests.Response:
        started = time.perf_counter()
        response = session.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)
        self.timings[name].append((time.perf_counter() - started) * 1000)
        self.statuses[name][response.status_code] += 1
        return response

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _run(self) -> None:
        session = requests.Session()
        self.barrier.wait()
        # Real calls do not all start, or ask their first question, in the same millisecond.
        self.pause()
        started = self.request(session, "call_start", "POST", "/internal/calls/start",
                               json={"called_number": SALON_NUMBER, "caller_number": f"+1555700{self.number:04d}",
                                     "room": f"bench-{self.number}", "sip_call_id": uuid.uuid4().hex},
                               headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"})
        started.raise_for_status()
        call_token = started.json()["call_token"]
        auth = {"Authorization": f"Bearer {call_token}"}
        self.pause()
        for _round in range(self.rounds):
            day = self.random.choice(self.days)
            service = self.random.choice(SERVICES)
            slot = self.random.choice(SLOT_TIMES)
            self.request(session, "check_availability", "POST", "/internal/voice-tools/check_availability",
                         json={"service": service, "date": day.isoformat(), "time": slot}, headers=auth)
            self.pause()
            self.request(session, "create_booking", "POST", "/internal/voice-tools/create_booking",
                         json={"confirmed": True, "service": service, "start": f"{day.isoformat()}T{slot}",
                               "customer_name": "Bench Caller",
                               "customer_phone": f"+1555700{self.number:04d}"},
                         headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            self.pause()
            self.request(session, "log_note", "POST", "/internal/voice-tools/log_note",
                         json={"note": "Prefers a quiet chair."}, headers=auth)
            self.pause()
            self.request(session, "healthz", "GET", "/healthz")
            self.pause()

    def pause(self) -> None:
        if self.think:
            time.sleep(self.think * self.random.uniform(0.5, 1.5))


def warm_up(base_url: str, days: list[dt.date], *, requests_per_endpoint: int) -> None:
    """Imports, database connections and first queries in every worker and thread, not measured.
    A new connection per request, so the requests spread over all the workers."""
    started = requests.post(f"{base_url}/internal/calls/start", json={"called_number": SALON_NUMBER, "caller_number": ""},
                            headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"}, timeout=30)
    started.raise_for_status()
    auth = {"Authorization": f"Bearer {started.json()['call_token']}", "Connection": "close"}
    last_day = days[-1].isoformat()

    def one(_number: int) -> None:
        requests.post(f"{base_url}/internal/voice-tools/check_availability", json={"service": "Haircut", "date": last_day},
                      headers=auth, timeout=30)
        requests.post(f"{base_url}/internal/voice-tools/log_note", json={"note": "warm-up"}, headers=auth, timeout=30)
        requests.get(f"{base_url}/healthz", headers={"Connection": "close"}, timeout=30)

    threads = [threading.Thread(target=one, args=(number,)) for number in range(requests_per_endpoint)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def table(title: str, timings: dict[str, list[float]], order: list[str]) -> str:
    lines = [title, f"{'endpoint':<20}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for name in order:
        values = timings.get(name)
        if values:
            lines.append(f"{name:<20}{len(values):>6}{percentile(values, .5):>9.1f}{percentile(values, .95):>9.1f}"
                         f"{percentile(values, .99):>9.1f}{max(values):>9.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the four requests per caller")
    parser.add_argument("--think-ms", type=float, default=500.0,
                        help="mean pause between a caller's requests (0 = closed loop, the server saturated)")
    # 4×4 rather than 2×8 on a 2-CPU box: the callers' keep-alive connections stay with the worker
    # that accepted them, and a gthread worker's threads share one GIL, so fewer threads per worker
    # spread the load better (measured: server-side p50 halves in the closed loop).
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", default="soniq_bench")
    parser.add_argument("--skip-setup", action="store_true", help="do not migrate/seed (the data is still reset)")
    args = parser.parse_args()

    database_url = bench_database_url(args.database)
    began = time.monotonic()
    print(f"[bench] load average (1/5/15 min) before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}", flush=True)
    prepare_database(database_url, skip_setup=args.skip_setup)
    server = Server(database_url, workers=args.workers, threads=args.threads)
    try:
        server.wait_ready()
        days = bookable_days(dt.datetime.now(SALON_TZ).date())
        warm_up(server.url, days, requests_per_endpoint=args.workers * args.threads * 3)
        barrier = threading.Barrier(args.callers)
        callers = [Caller(number, base_url=server.url, rounds=args.rounds, think=args.think_ms / 1000, days=days,
                          barrier=barrier) for number in range(args.callers)]
        server.access_log.write_text("")
        web_cpu_before, client_cpu_before = cpu_seconds(server.process.pid), time.process_time()
        postgres_before = postgres_backend_cpu(database_url)
        load_began = time.monotonic()
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        load_seconds = time.monotonic() - load_began
        web_cpu = cpu_seconds(server.process.pid) - web_cpu_before
        client_cpu = time.process_time() - client_cpu_before
        postgres_cpu = sum(cpu - postgres_before.get(pid, 0.0) for pid, cpu in postgres_backend_cpu(database_url).items())
        time.sleep(0.5)  # gunicorn flushes its access log line after the response
        errors = [caller.error for caller in callers if caller.error]
        if errors:
            raise SystemExit(f"{len(errors)} callers failed, first: {errors[0]!r}")

        client: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for caller in callers:
            for name, values in caller.timings.items():
                client[name] += values
            for name, counts in caller.statuses.items():
                for code, count in counts.items():
                    statuses[name][code] += count
        order = ["check_availability", "create_booking", "log_note", "healthz", "call_start"]
        total = sum(len(values) for values in client.values())
        print()
        print(f"{args.callers} callers × {args.rounds} rounds, think {args.think_ms:g} ms, gunicorn gthread "
              f"{args.workers}×{args.threads}, {os.cpu_count()} CPUs; {total} requests in {load_seconds:.1f} s "
              f"({total / load_seconds:.0f} req/s)")
        print(table("\nclient side (what a caller waits for):", client, order))
        print(table("\nserver side (gunicorn access log, request handling only):", server.server_timings(), order))
        print("\nstatuses: " + "; ".join(
            f"{name} " + ", ".join(f"{code}×{count}" for code, count in sorted(statuses[name].items())) for name in order
            if name in statuses))
        print(f"\nCPU per request (all endpoints, averaged): web {web_cpu / total * 1000:.1f} ms, PostgreSQL "
              f"{postgres_cpu / total * 1000:.1f} ms, bench client {client_cpu / total * 1000:.1f} ms")
        print(f"load average (1/5/15 min) at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        print(f"total run time {time.monotonic() - began:.0f} s")
    finally:
        server.stop()
        server.access_log.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
