"""One tenant's slow webhook receivers against another tenant's follow-ups (issue 29, item 1): how long
tenant B's call log, customer SMS and webhook take while tenant A has four endpoints that answer one
byte every 0.3 s (forever), compared with a quiet worker.

    DATABASE_URL=postgres://...soniq_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/webhook_isolation.py --rounds 5

What it does: migrates the database and provisions the demo tenants (idempotent); starts a SignalWire
fake, a webhook receiver and four drip receivers on loopback, and one real Celery worker consuming
every queue (the production settings: thread pool of 4, WEBHOOK_TIMEOUT_SECONDS 10,
WEBHOOK_TENANT_CONCURRENCY 2; WEBHOOK_ALLOW_PRIVATE=1 for the loopback receivers). Tenant A is the
salon (four drip endpoints, a booking event every round), tenant B the pizzeria: each round takes an
order (its SMS and order.created webhook) and accepts a call log (`call_log_accept`, the endpoint's
own service), and times each until it is sent / delivered / stored. `--rounds` quiet rounds first,
then as many with the salon's receivers dripping. Everything it creates is removed afterwards.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable


def setup_django(secret_key: str) -> None:
    os.environ["SECRET_KEY"] = secret_key
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
    import django

    django.setup()


def cleanup() -> None:
    from django.db import connection

    from testing.live_server import truncate_activity

    truncate_activity()
    connection.set_schema_to_public()


def pizzeria_round(*, now: dt.datetime) -> dict[str, float]:
    """Seconds until the order's SMS is sent, its webhook delivered and a call's log stored."""
    from django_tenants.utils import schema_context

    from calls.ingestion import call_log_accept
    from calls.models import Call
    from calls.services import call_start
    from messaging.models import SmsMessage
    from orders.services import order_create
    from webhooks.models import WebhookDelivery

    started = time.monotonic()
    with schema_context("pizzeria"):
        order_id = order_create(items=[{"name": "Margherita", "quantity": 1}], customer_name="Bench",
                                customer_phone="+15550107777", fulfillment="pickup", now=now).result["order_id"]
        call = call_start(called_number="+15550100002", caller_number="+15557654321", now=now - dt.timedelta(minutes=3))
        call_log_accept(call=call, payload={"ended_at": now.isoformat(), "outcome": "ordered",
                                            "transcript": [{"role": "user", "text": "One margherita"}]}, received_at=now)
    done: dict[str, float] = {}
    deadline = started + 300
    while len(done) < 3 and time.monotonic() < deadline:
        with schema_context("pizzeria"):
            if "sms" not in done and SmsMessage.objects.filter(order_id=order_id, status="sent").exists():
                done["sms"] = time.monotonic() - started
            if "webhook" not in done and WebhookDelivery.objects.filter(event_key__contains=f":{order_id}:",
                                                                        status="delivered").exists():
                done["webhook"] = time.monotonic() - started
            if "log" not in done and Call.objects.filter(pk=call.pk, log_stored_at__isnull=False).exists():
                done["log"] = time.monotonic() - started
        time.sleep(0.02)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database and Redis db of your own).")

    from messaging.tests.signalwire_fake import FakeSignalWire
    from notifications.tests.fakes import DripReceiver, WebhookReceiver

    signalwire, receiver = FakeSignalWire(), WebhookReceiver(path="/bench-isolation")
    drips = [DripReceiver() for _ in range(4)]
    secret_key = "bench-isolation-" + os.urandom(16).hex()
    env = {**os.environ, "SECRET_KEY": secret_key, "DEBUG": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
           "WEBHOOK_ALLOW_PRIVATE": "1", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", **signalwire.settings()}
    os.environ.update({"WEBHOOK_ALLOW_PRIVATE": "1", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", **signalwire.settings()})
    manage = [PYTHON, str(ROOT / "manage.py")]
    print("migrating and provisioning the demo tenants ...", flush=True)
    subprocess.run([*manage, "migrate_schemas", "--executor=standard", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo", "-v", "0"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    setup_django(secret_key)

    from django_tenants.utils import schema_context

    from core import clock
    from core.celery_app import app as celery_app
    from notifications import events
    from tenants.agent.models import AgentSettings
    from webhooks.models import WebhookEndpoint

    def a_booking(round_number: int):
        from bookings.models import Booking, Service

        service = Service.objects.filter(active=True).first()
        start = now + dt.timedelta(days=2, hours=round_number)
        return Booking.objects.create(service=service, start=start, end=start + dt.timedelta(minutes=30),
                                      blocked_until=start + dt.timedelta(minutes=30), customer_name="Bench",
                                      customer_phone="+15557654321")

    cleanup()
    with schema_context("pizzeria"):
        WebhookEndpoint.objects.create(url=receiver.url, events=["order.created"])
        AgentSettings.objects.update(sms_confirmations=True)
    with celery_app.connection_for_write() as connection:
        for queue in celery_app.conf.task_queues:
            connection.default_channel.queue_purge(queue.name)
    worker = subprocess.Popen([PYTHON, "-m", "celery", "-A", "soniq_site", "worker", "--pool=threads", "--concurrency=4",
                               "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
                              env=env, cwd=ROOT)
    # Friday 13 March 2026, 19:00 in Berlin: the pizzeria is open (the worker keeps the real clock).
    now = dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC)
    clock.now = lambda: now
    quiet: list[dict[str, float]] = []
    dripping: list[dict[str, float]] = []
    try:
        pizzeria_round(now=now)  # warm-up: the worker's first tasks import everything
        for _ in range(args.rounds):
            quiet.append(pizzeria_round(now=now))
        with schema_context("salon"):
            for drip in drips:
                WebhookEndpoint.objects.create(url=drip.url)
        for round_number in range(args.rounds):
            with schema_context("salon"):
                events.booking_created(booking=a_booking(round_number))  # four more slow deliveries each round
            while not any(drip.open_connections() for drip in drips):
                time.sleep(0.05)
            dripping.append(pizzeria_round(now=now))
        open_at_end = sum(len(drip.open_connections()) for drip in drips)
    finally:
        worker.send_signal(signal.SIGTERM)
        for drip in drips:
            drip.stop()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
        signalwire.stop()
        receiver.stop()

    def summary(rounds: list[dict[str, float]], what: str) -> str:
        values = [r[what] for r in rounds if what in r]
        missing = len(rounds) - len(values)
        return (f"p50 {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
                + (f", {missing} never" if missing else "")) if values else "never"

    print()
    for what in ("log", "sms", "webhook"):
        print(f"pizzeria {what:8} quiet: {summary(quiet, what):32} salon dripping: {summary(dripping, what)}")
    worst = max((r.get(what, 300) for r in dripping for what in ("log", "sms", "webhook")), default=0)
    base = max((r.get(what, 300) for r in quiet for what in ("log", "sms", "webhook")), default=0)
    print(f"worst added delay:        {max(0.0, worst - base) * 1000:.0f} ms (worst dripping round minus worst quiet round)")
    print(f"salon's slow attempts open at the end: {open_at_end} (WEBHOOK_TENANT_CONCURRENCY 2)")
    print(f"machine:                  {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
