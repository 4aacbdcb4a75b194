"""check_availability with and without a connected calendar: what calendar sync adds to the voice tool.

    .venv/bin/python bench/calendar_availability.py [--requests 200]

It starts the worktree's private PostgreSQL and Redis (scripts/dev.py's), prepares a bench database
(`soniq_calendar_bench`: migrated and seeded once), starts Radicale (a real CalDAV server) and the
Google stand-in on loopback, and times `POST /internal/voice-tools/check_availability` through
Django's whole request path (middleware, token, DRF, the tool, the in-call calendar refresh) in this
process, sequentially, for:

  none             no calendar connected (the baseline)
  caldav mirror    a CalDAV calendar with 40 events, mirror fresh: the tool reads the local mirror only
  google mirror    the same on Google (stand-in), mirror fresh
  caldav read      the mirror stale on every call: the tool reads Radicale first (bounded wait)
  google read      the same through google-api-python-client to the stand-in
  hung provider    a CalDAV server that accepts and never answers: the bounded wait, first call
  after a failure  the next calls in the same minute: not waited for, last known busy times
  freeBusy inside  the design not taken: one freeBusy round trip (real client, loopback) added to
                   the baseline, as a read inside the booking decision would add under the row lock

Loopback only: a real provider adds its network round trip (tens to hundreds of ms) to the two
"read" rows and to "freeBusy inside", and nothing to the mirror rows.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "soniq_calendar_bench"


def child(requests_per_case: int) -> None:
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "*")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("INTERNAL_API_TOKEN", "bench-internal-token")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
    import django

    django.setup()
    import datetime as dt
    import logging
    import zoneinfo

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from calendars.models import CalendarConnection
    from calendars.services import calendar_caldav_connect
    from calendars.sync import calendar_sync
    from calendars.tests.google_fake import GoogleFake
    from calendars.tests.radicale_server import PASSWORD, USERNAME, RadicaleServer
    from calls.services import call_start
    from core import clock
    from tenants.models import Tenant
    from testing.demo_tenants import SALON_NUMBER
    from voiceapi.tokens import call_token_issue

    logging.disable(logging.WARNING)
    if ("tenants_tenant" not in connection.introspection.table_names()
            or not Tenant.objects.filter(schema_name="salon").exists()):
        print("[bench] migrating and seeding (once) ...", flush=True)
        call_command("migrate_schemas", "--noinput", verbosity=0)
        call_command("seed_demo", verbosity=0)
    connection.set_schema_to_public()
    new_york = zoneinfo.ZoneInfo("America/New_York")
    day = dt.datetime.now(new_york).date() + dt.timedelta(days=2)
    while day.weekday() != 1:
        day += dt.timedelta(days=1)

    google = GoogleFake()
    google.page_size = 2500  # Google's maximum page, which the client asks for
    for name, value in google.settings().items():
        setattr(settings, name, value)
    radicale = RadicaleServer()
    calendar = radicale.make_calendar("Salon")
    for offset in range(40):  # a busy calendar: two events a day over the next weeks
        start = dt.datetime.combine(day + dt.timedelta(days=offset // 2), dt.time(10 + 4 * (offset % 2)), new_york)
        calendar.save_event(dtstart=start, dtend=start + dt.timedelta(minutes=30), summary=f"Appointment {offset}")
        google.business_add_event(start=start, end=start + dt.timedelta(minutes=30), summary=f"Appointment {offset}")

    with schema_context("salon"):
        CalendarConnection.objects.all().delete()
        call = call_start(called_number=SALON_NUMBER, caller_number="+15557654321", now=clock.now())
    token = call_token_issue(schema_name="salon", call_id=str(call.pk), max_call_seconds=3600, issued_at=clock.now())
    client = Client()
    body = {"service": "colour", "date": day.isoformat(), "time": "10:00"}

    def timed(count: int) -> list[float]:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            response = client.post("/internal/voice-tools/check_availability", body, content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {token}")
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        connection.set_schema_to_public()
        return samples

    def report(name: str, samples: list[float]) -> None:
        samples = sorted(samples)
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        print(f"{name:<18} n={len(samples):<4} p50 {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms", flush=True)

    def connect_caldav(url: str) -> CalendarConnection:
        with schema_context("salon"):
            CalendarConnection.objects.all().delete()
            made = calendar_caldav_connect(service=None, name="Salon", server_url=url, username=USERNAME,
                                           password=PASSWORD, calendar_url=str(calendar.url).replace(radicale.url, url),
                                           blocks="all")
            return made

    timed(20)  # warm up
    report("none (alone)", timed(requests_per_case))

    settings.CALENDAR_FRESH_SECONDS = 3600
    caldav = connect_caldav(radicale.url)
    with schema_context("salon"):
        calendar_sync(connection=caldav)
    timed(5)
    report("caldav mirror", timed(requests_per_case))
    # The same two cases interleaved request by request, so the shared machine's load drifts out of
    # the difference: the calendar is switched off and on between requests (untimed).
    without, with_mirror = [], []
    for _ in range(requests_per_case):
        for status, samples in (("disconnected", without), ("connected", with_mirror)):
            with schema_context("salon"):
                CalendarConnection.objects.filter(pk=caldav.pk).update(status=status)
            samples.extend(timed(1))
    report("none, interleaved", without)
    report("mirror, interleaved", with_mirror)
    settings.CALENDAR_FRESH_SECONDS = 0
    report("caldav read", timed(max(20, requests_per_case // 4)))

    # Google: a connection holding the stand-in's tokens (the OAuth trip itself is in the tests).
    from calendars.crypto import secret_seal
    with schema_context("salon"):
        CalendarConnection.objects.all().delete()
        code_url = google.consent(f"{google.url}/o/oauth2/auth?client_id={google.settings()['GOOGLE_OAUTH_CLIENT_ID']}"
                                  f"&response_type=code&redirect_uri=http://x/cb&state=s")
        code = code_url.split("code=")[1].split("&")[0]
        _status, tokens = google.token_endpoint({"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": "http://x/cb",
                                                 "client_id": google.settings()["GOOGLE_OAUTH_CLIENT_ID"],
                                                 "client_secret": google.settings()["GOOGLE_OAUTH_CLIENT_SECRET"]})
        import json
        connected = CalendarConnection.objects.create(
            provider="google", name="Google", calendar_id="primary", status="connected", secret=secret_seal(json.dumps(
                {"token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "expiry": None})))
        calendar_sync(connection=connected)
    settings.CALENDAR_FRESH_SECONDS = 3600
    timed(5)
    report("google mirror", timed(requests_per_case))
    settings.CALENDAR_FRESH_SECONDS = 0
    report("google read", timed(max(20, requests_per_case // 4)))

    # freeBusy inside the decision: the round trip it would add (same client library, loopback).
    from calendars.providers import GoogleCalendar
    with schema_context("salon"):
        connected.refresh_from_db()
        from calendars.crypto import secret_open
        provider = GoogleCalendar(calendar_id="primary", secret=secret_open(connected.secret), tz=new_york, timeout=10)
    since = dt.datetime.combine(day, dt.time(0), new_york)
    free_busy = []
    for _ in range(max(20, requests_per_case // 4)):
        started = time.perf_counter()
        provider.free_busy(since=since, until=since + dt.timedelta(days=1))
        free_busy.append((time.perf_counter() - started) * 1000)
    report("freeBusy round trip", free_busy)

    # A provider that accepts connections and never answers: the bounded wait, then no wait.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(hung.accept()) for _ in iter(int, 1)], daemon=True).start()
    connect_caldav(f"http://127.0.0.1:{hung.getsockname()[1]}/")
    settings.CALENDAR_FRESH_SECONDS = 0
    report("hung provider", timed(1))
    report("after a failure", timed(max(20, requests_per_case // 4)))
    print(f"(CALENDAR_CALL_WAIT_MS = {settings.CALENDAR_CALL_WAIT_MS})")

    with schema_context("salon"):
        CalendarConnection.objects.all().delete()
    radicale.stop()
    google.stop()
    os._exit(0)  # the hung read's thread waits out its socket timeout otherwise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests)
        return 0
    from scripts.dev import Services

    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f'python3 -m timeit "sum(range(10000))": {timeit.stdout.strip()}', flush=True)
    services = Services()
    try:
        env = {**os.environ, **services.start(persistent_redis=False)}
        if services.postgres is not None:
            if "1 row" not in services.postgres.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';"):
                services.postgres.psql(f"CREATE DATABASE {DB_NAME};")
            env["DATABASE_URL"] = services.postgres.get_uri(DB_NAME)
        return subprocess.call([sys.executable, __file__, "--child", "--requests", str(args.requests)], cwd=ROOT, env=env)
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
