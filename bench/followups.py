"""Follow-up latency and loss: how long from an event's commit until the owner's email arrives and
until the webhook's first attempt reaches the receiver; and whether any webhook is lost when the
receiver is down for a minute.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/soniq_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/followups.py --events 300

What it does: migrates the database and provisions the demo tenants (idempotent); gives `salon` one
email recipient and one webhook endpoint; starts a real SMTP server (aiosmtpd) and a webhook
receiver on loopback in this process, and a real Celery worker (production settings apart from
WEBHOOK_ALLOW_PRIVATE=1, needed for a loopback receiver; the production retry schedule).

1. Latency: `--events` callback requests at `--rate` per second, each written with
   `events.callback_requested` in one transaction, the moment of its commit noted; then the
   arrival of each email (SMTP DATA accepted) and each webhook's first POST. Reported: p50/p99.
2. Outage: the receiver is stopped, `--outage-events` more events are emitted over `--outage`
   seconds, the receiver comes back; the bench waits for the retries. Reported: lost = events
   whose webhook never reached the receiver, and duplicates (same webhook-id received twice).

Everything it creates is removed afterwards. Use a database and Redis db of your own: the queue is
purged at the start.
"""
from __future__ import annotations

import argparse
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
MAILBOX = "bench-owner@salon.example"
BENCH_NUMBER = "+15550009998"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def setup_django(secret_key: str) -> None:
    os.environ["SECRET_KEY"] = secret_key
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
    import django

    django.setup()


def cleanup() -> None:
    from django_tenants.utils import schema_context

    from calls.models import CallbackRequest
    from notifications.models import Notification, NotificationSettings
    from webhooks.models import WebhookEndpoint

    with schema_context("salon"):
        CallbackRequest.objects.filter(caller_number=BENCH_NUMBER).delete()
        Notification.objects.filter(recipient=MAILBOX).delete()
        WebhookEndpoint.objects.filter(url__contains="/bench-followups").delete()
        NotificationSettings.objects.filter(emails=[MAILBOX]).delete()


def emit(count: int, rate: float) -> dict[int, float]:
    """`count` callback requests with their event, `rate` per second; {callback id: commit time}."""
    from django.db import transaction
    from django_tenants.utils import schema_context

    from calls.services import callback_request_create
    from notifications import events

    committed: dict[int, float] = {}
    with schema_context("salon"):
        for n in range(count):
            started = time.time()
            with transaction.atomic():
                callback = callback_request_create(call=None, caller_number=BENCH_NUMBER, reason=f"bench {n}")
                events.callback_requested(callback_request=callback)
            committed[callback.pk] = time.time()
            time.sleep(max(0.0, 1 / rate - (time.time() - started)))
    return committed


def callback_id_of_mail(mail) -> int | None:
    marker = "callbackrequest/"
    body = mail.body
    if marker not in body:
        return None
    return int(body.split(marker, 1)[1].split("/", 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10, help="events per second (default 10)")
    parser.add_argument("--outage", type=float, default=60, help="seconds the receiver is down (default 60)")
    parser.add_argument("--outage-events", type=int, default=100)
    parser.add_argument("--celery-pool", default="threads")
    parser.add_argument("--celery-concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the last delivery")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database and Redis db of your own).")

    from notifications.tests.fakes import FakeSMTP, WebhookReceiver

    smtp = FakeSMTP()
    receiver = WebhookReceiver(path="/bench-followups")
    secret_key = "bench-followups-" + os.urandom(16).hex()
    env = {**os.environ, "SECRET_KEY": secret_key, "DEBUG": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
           "WEBHOOK_ALLOW_PRIVATE": "1", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", **smtp.settings()}
    os.environ.update({"WEBHOOK_ALLOW_PRIVATE": "1", **smtp.settings()})
    manage = [PYTHON, str(ROOT / "manage.py")]
    print("migrating and provisioning the demo tenants ...", flush=True)
    subprocess.run([*manage, "migrate_schemas", "--executor=standard", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo", "-v", "0"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    setup_django(secret_key)

    from django_tenants.utils import schema_context

    from core.celery_app import app as celery_app
    from notifications.models import every_event
    from notifications.services import notification_settings_update
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    cleanup()
    with schema_context("salon"):
        notification_settings_update(emails=[MAILBOX], sms_numbers=[], events=every_event())
        WebhookEndpoint.objects.create(url=receiver.url, events=["callback.created"])
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(celery_app.conf.task_default_queue)
    worker = subprocess.Popen([PYTHON, "-m", "celery", "-A", "soniq_site", "worker", f"--pool={args.celery_pool}",
                               f"--concurrency={args.celery_concurrency}", "--loglevel=WARNING", "--without-heartbeat",
                               "--without-gossip", "--without-mingle"], env=env, cwd=ROOT)
    try:
        # The clock starts once the worker has sent a warm-up event's email.
        emit(1, 10)
        deadline = time.time() + 120
        while not smtp.to(MAILBOX) and time.time() < deadline:
            time.sleep(0.1)
        smtp.messages.clear()
        receiver.requests.clear()
        print(f"1. {args.events} events at {args.rate}/s ...", flush=True)
        committed = emit(args.events, args.rate)
        deadline = time.time() + args.timeout
        while time.time() < deadline and (len(smtp.to(MAILBOX)) < len(committed) or len(receiver.requests) < len(committed)):
            time.sleep(0.1)
        mail_latency = [mail.arrived - committed[cid] for mail in smtp.to(MAILBOX)
                        if (cid := callback_id_of_mail(mail)) in committed]
        first_attempt: dict[int, float] = {}
        for request in list(receiver.requests):
            cid = request.payload["data"]["callback_id"]
            first_attempt.setdefault(cid, request.arrived)
        hook_latency = [arrived - committed[cid] for cid, arrived in first_attempt.items() if cid in committed]
        with schema_context("salon"):
            from django.db.models import Count

            phase1_status = dict(WebhookDelivery.objects.filter(event_key__in=[f"callback:{cid}" for cid in committed])
                                 .values_list("status").annotate(n=Count("pk")))
            phase1_errors = list(WebhookDelivery.objects.exclude(last_error="").values_list("last_error", flat=True)[:3])
        print(f"   deliveries by status: {phase1_status}, errors: {phase1_errors}", flush=True)

        print(f"2. receiver down for {args.outage:.0f} s, {args.outage_events} events meanwhile ...", flush=True)
        receiver.requests.clear()
        receiver.down()
        outage_committed = emit(args.outage_events, args.outage_events / args.outage)
        receiver.up()
        back_at = time.time()
        with schema_context("salon"):
            pending = WebhookDelivery.objects.filter(event_key__in=[f"callback:{cid}" for cid in outage_committed])
            while time.time() < back_at + args.timeout and pending.filter(status="delivered").count() < len(outage_committed):
                time.sleep(0.5)
            delivered = pending.filter(status="delivered").count()
            failed = pending.filter(status="failed").count()
        all_back = time.time() - back_at
        received_ids = [request.headers["webhook-id"] for request in receiver.requests]
        received = {request.payload["data"]["callback_id"] for request in receiver.requests}
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        smtp.stop()
        receiver.stop()

    print()
    print(f"events:                {len(committed)} at {args.rate}/s (callback requests in salon)")
    print(f"emails arrived:        {len(mail_latency)}")
    print(f"commit -> email:       p50 {statistics.median(mail_latency) * 1000:.0f} ms, p99 {percentile(mail_latency, 0.99) * 1000:.0f} ms")
    print(f"webhooks received:     {len(hook_latency)}")
    print(f"commit -> 1st attempt: p50 {statistics.median(hook_latency) * 1000:.0f} ms, p99 {percentile(hook_latency, 0.99) * 1000:.0f} ms")
    print(f"outage:                {len(outage_committed)} events while the receiver was down {args.outage:.0f} s")
    print(f"  delivered:           {delivered}, failed {failed}, received {len(received & set(outage_committed))}")
    print(f"  lost:                {len(set(outage_committed) - received)}")
    print(f"  duplicates:          {len(received_ids) - len(set(received_ids))} (same webhook-id twice)")
    print(f"  all delivered after: {all_back:.0f} s from the receiver's return")
    print(f"machine:               {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    cleanup()
    return 0 if len(set(outage_committed) - received) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
