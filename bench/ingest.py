"""Call-log ingestion throughput: how many end-of-call logs per second go from the voice worker's
POST to stored rows, and whether any are lost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/soniq_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/ingest.py --logs 2000

What it does: migrates the database and provisions the demo tenants (idempotent), creates N
active calls split between `salon` and `pizzeria`, starts a production-style stack — gunicorn
(DEBUG off) and a real Celery worker — on free ports, then posts one log per call (30-turn
transcript, 2 tool calls, usage, 15 latency entries) from `--clients` concurrent HTTP clients.
The clock runs from the first POST until every accepted log is stored (polling `log_stored_at`).

Reported: logs/s end to end, the HTTP phase alone (how fast the endpoint accepts), request latency,
and `lost` = logs answered 2xx but not stored within `--timeout` seconds after the last POST.
Everything it creates is removed afterwards. Use a database and Redis db of your own: the queue is
purged at the start.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.dev import free_port, wait_for_port  # noqa: E402 - the project root is on the path only now

PYTHON = sys.executable
BENCH_ROOM = "bench-ingest"
SCHEMAS = {"salon": "+15550100001", "pizzeria": "+493055500002"}


def a_log(n: int) -> dict:
    """A realistic log: a 30-turn conversation of a few minutes."""
    lines = [
        "Hi, I'd like to book a haircut for tomorrow afternoon if you have anything.",
        "Of course! Let me check tomorrow afternoon for a haircut. One moment please.",
        "We have 2:30 pm and 4:00 pm free tomorrow. Which would you prefer?",
        "Four o'clock works. My name is Sam Taylor, my number is five five five, one two three four.",
    ]
    return {
        # After the bench's calls started (now): the API refuses an end time before the call's start.
        "ended_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "duration_seconds": 271.4,
        "outcome": "booked",
        "end_reason": "caller said goodbye",
        "transferred_to": "",
        "transcript": [
            {"role": "user" if turn % 2 == 0 else "assistant", "text": f"{lines[turn % 4]} ({n})",
             "offset_seconds": round(turn * 8.7, 2), "language": "en", "interrupted": turn == 7}
            for turn in range(30)
        ],
        "tool_calls": [
            {"name": "check_availability", "arguments": {"service": "haircut", "date": "2026-03-11"},
             "result": {"available": False, "alternatives": ["2026-03-11T14:30:00-04:00", "2026-03-11T16:00:00-04:00"]},
             "is_error": False, "offset_seconds": 20.3, "duration_ms": 9},
            {"name": "create_booking", "arguments": {"service": "haircut", "start": "2026-03-11T16:00",
                                                     "customer_name": "Sam Taylor", "customer_phone": "5551234"},
             "result": {"booking_id": 123, "start": "2026-03-11T16:00:00-04:00"}, "is_error": False,
             "offset_seconds": 95.1, "duration_ms": 14},
        ],
        "usage": {"llm_prompt_tokens": 18250, "llm_completion_tokens": 640, "stt_seconds": 262.3,
                  "tts_characters": 1830},
        "latency": [{"turn": turn, "llm_ttft_ms": 380 + turn, "tts_ttfb_ms": 160 + turn, "end_of_utterance_ms": 520}
                    for turn in range(15)],
    }


def setup_django(secret_key: str) -> None:
    os.environ["SECRET_KEY"] = secret_key
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
    import django

    django.setup()


def create_calls(n: int) -> list[tuple[str, str]]:
    """N active calls, alternating tenants; returns (call_id, call_token) pairs."""
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from calls.models import Call
    from voiceapi.tokens import call_token_issue

    now = timezone.now()
    per_schema = []
    for schema, number in SCHEMAS.items():
        count = (n + 1) // 2 if schema == "salon" else n // 2
        with schema_context(schema):
            rows = Call.objects.bulk_create([
                Call(called_number=number, caller_number="+15557654321", room=BENCH_ROOM, started_at=now,
                     max_call_seconds=600)
                for _ in range(count)
            ])
        per_schema.append([(str(call.pk), call_token_issue(schema_name=schema, call_id=str(call.pk),
                                                           max_call_seconds=600)) for call in rows])
    # Interleave the tenants, as real traffic would.
    return [call for pair in itertools.zip_longest(*per_schema) for call in pair if call is not None]


def stored_count() -> int:
    from django_tenants.utils import schema_context

    from calls.models import Call

    total = 0
    for schema in SCHEMAS:
        with schema_context(schema):
            total += Call.objects.filter(room=BENCH_ROOM, log_stored_at__isnull=False).count()
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children, so far."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for member in [process, *process.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_backend_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this database, except the bench's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {pid: cpu_seconds([pid]) for (pid,) in cursor.fetchall()}


def cleanup() -> None:
    from django_tenants.utils import schema_context

    from calls.models import Call

    for schema in SCHEMAS:
        with schema_context(schema):
            Call.objects.filter(room=BENCH_ROOM).delete()


async def post_all(url: str, calls: list[tuple[str, str]], clients: int) -> tuple[list[float], dict[int, int], float]:
    import aiohttp

    queue: asyncio.Queue = asyncio.Queue()
    for index, call in enumerate(calls):
        queue.put_nowait((index, call))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    # Bodies are built before the clock starts: the voice worker has its log ready too.
    bodies = [json.dumps(a_log(index)).encode() for index in range(len(calls))]
    first_post = 0.0

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            index, (call_id, token) = queue.get_nowait()
            started = time.perf_counter()
            try:
                async with session.post(f"{url}/internal/calls/{call_id}/log", data=bodies[index],
                                        headers={"Authorization": f"Bearer {token}",
                                                 "Content-Type": "application/json"}) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        first_post = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return latencies, statuses, first_post


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=2000, help="logs to post (default 2000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes (default 3)")
    parser.add_argument("--celery-pool", default="threads", help="Celery pool: threads (default) or prefork")
    parser.add_argument("--celery-concurrency", type=int, default=4, help="Celery pool size (default 4)")
    parser.add_argument("--celery-prefetch", type=int, default=16, help="Celery prefetch multiplier (default 16)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for storage after the last POST")
    parser.add_argument("--worker-log-level", default="WARNING", help="Celery log level (INFO logs two lines per task)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database and Redis db of your own).")

    secret_key = "bench-ingest-" + os.urandom(16).hex()
    env = {**os.environ, "SECRET_KEY": secret_key, "DEBUG": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
           "DB_CONN_MAX_AGE": "3600"}
    manage = [PYTHON, str(ROOT / "manage.py")]
    print("migrating and provisioning the demo tenants ...", flush=True)
    subprocess.run([*manage, "migrate_schemas", "--executor=standard", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo", "-v", "0"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    setup_django(secret_key)
    from core.celery_app import app as celery_app

    cleanup()
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(celery_app.conf.task_default_queue)
    calls = create_calls(args.logs)

    port = free_port()
    children = [
        subprocess.Popen([PYTHON, "-m", "gunicorn", "soniq_site.wsgi", "--workers", str(args.web_workers),
                          "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning"],
                         env=env, cwd=ROOT),
        subprocess.Popen([PYTHON, "-m", "celery", "-A", "soniq_site", "worker", f"--pool={args.celery_pool}",
                          f"--concurrency={args.celery_concurrency}", f"--prefetch-multiplier={args.celery_prefetch}",
                          f"--loglevel={args.worker_log_level}", "--without-heartbeat", "--without-gossip",
                          "--without-mingle"], env=env, cwd=ROOT),
    ]
    try:
        wait_for_port(port)
        time.sleep(2)  # let the Celery worker connect before the clock starts
        print(f"posting {len(calls)} logs with {args.clients} clients to gunicorn x{args.web_workers}, "
              f"celery {args.celery_pool} x{args.celery_concurrency} ...", flush=True)
        web_pid, celery_pid = children[0].pid, children[1].pid
        cpu_before = {"web": cpu_seconds([web_pid]), "celery": cpu_seconds([celery_pid]),
                      "bench client": time.process_time()}
        postgres_before = postgres_backend_cpu()
        latencies, statuses, first_post = asyncio.run(post_all(f"http://127.0.0.1:{port}", calls, args.clients))
        posts_done = time.perf_counter()
        accepted = sum(count for status, count in statuses.items() if 200 <= status < 300)
        stored = 0
        deadline = posts_done + args.timeout
        while time.perf_counter() < deadline:
            stored = stored_count()
            if stored >= accepted:
                break
            time.sleep(0.05)
        all_stored = time.perf_counter()
        cpu_used = {"web": cpu_seconds([web_pid]) - cpu_before["web"],
                    "celery": cpu_seconds([celery_pid]) - cpu_before["celery"],
                    "bench client": time.process_time() - cpu_before["bench client"]}
        # Backends that connected during the run count whole; DB_CONN_MAX_AGE below keeps the
        # others alive until this sample.
        cpu_used["postgres"] = sum(cpu - postgres_before.get(pid, 0.0) for pid, cpu in postgres_backend_cpu().items())
        load = os.getloadavg()
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()

    elapsed = all_stored - first_post
    http_phase = posts_done - first_post
    latencies.sort()
    print()
    print(f"logs posted:        {len(calls)} (30 turns each)")
    print(f"HTTP statuses:      {dict(sorted(statuses.items()))}")
    print(f"stored:             {stored}")
    print(f"lost:               {accepted - stored}  (answered 2xx, not stored)")
    print(f"not accepted:       {len(calls) - accepted}")
    print(f"HTTP phase:         {http_phase:.2f} s = {len(calls) / http_phase:.0f} logs/s accepted")
    print(f"end to end:         {elapsed:.2f} s = {stored / elapsed:.0f} logs/s stored")
    print(f"request latency:    p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
    print("CPU per log:        " + ", ".join(f"{name} {seconds / len(calls) * 1000:.2f} ms"
                                              for name, seconds in cpu_used.items())
          + f"; total {sum(cpu_used.values()) / len(calls) * 1000:.2f} ms")
    print(f"machine:            {os.cpu_count()} CPUs, load average {load[0]:.2f} at the end "
          "(other processes on the machine compete for the same CPUs)")
    cleanup()
    return 0 if accepted == stored == len(calls) else 1


if __name__ == "__main__":
    sys.exit(main())
