"""Many tenants in one PostgreSQL: provisioning, a deploy's migrations, request latency, catalog, backup.

    .venv/bin/python bench/tenants_scale.py [--tenants 1000] [--database soniq_scale] [--keep-database]

Needs DATABASE_URL and REDIS_URL of your own (the bench database is created next to DATABASE_URL's
and dropped at the end unless --keep-database). At 1,000 tenants: ~15-30 minutes on 2 vCPUs.

1. Setup: `migrate_schemas` (public, the template schema, the spares), `seed_demo` (salon, pizzeria).
2. Latency at 2 tenants: on gunicorn (gthread 2x4, DEBUG off), one client: `POST /internal/calls/start`
   for the salon's number and `check_availability` with the call's token, R rounds; server-side
   times from gunicorn's access log.
3. Provisioning: tenants 3..N through `tenant_provision` (a spec with a number, hours, a service),
   timed per tenant. As in production a spare schema is taken and another made afterwards (Celery
   does that; here the same function runs inline after each provisioning, timed separately).
4. Latency again at N tenants (the same requests, the same salon).
5. The phone-number lookup `POST /internal/calls/start` makes: EXPLAIN (ANALYZE) of its query.
6. Catalog: database size, pg_class rows, size of pg_class/pg_attribute/pg_depend; pg_dump time.
7. A deploy: `migrate_schemas` with one new tenant migration (a column on calls_callnote) across all
   schemas, serial (standard executor) and then a second one with `--executor=multiprocessing`.
   The migration files are written into a temporary copy of the project, which runs the deploy.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE_MIGRATIONS = ["9901_bench_probe_serial", "9902_bench_probe_parallel"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, .5):7.1f}  p95 {percentile(values, .95):7.1f}  max {max(values):7.1f} ms"
            f"  (n={len(values)})")


def latency_round(base_url: str, token: str, rounds: int, server) -> dict[str, list[float]]:
    import requests

    session = requests.Session()
    server.access_log.write_text("")
    client: dict[str, list[float]] = {"call_start": [], "check_availability": []}
    for number in range(rounds):
        began = time.perf_counter()
        started = session.post(f"{base_url}/internal/calls/start",
                               json={"called_number": "+15550100001", "caller_number": f"+1555800{number:04d}",
                                     "room": f"scale-{uuid.uuid4().hex[:8]}", "sip_call_id": uuid.uuid4().hex},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
        client["call_start"].append((time.perf_counter() - began) * 1000)
        started.raise_for_status()
        auth = {"Authorization": f"Bearer {started.json()['call_token']}"}
        began = time.perf_counter()
        answer = session.post(f"{base_url}/internal/voice-tools/check_availability",
                              json={"service": "Haircut", "date": "2030-01-08", "time": "10:00"}, headers=auth,
                              timeout=30)
        client["check_availability"].append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    time.sleep(0.5)
    timings = server.server_timings()
    return {"server " + name: timings.get(name, []) for name in ("call_start", "check_availability")} | {
        "client " + name: values for name, values in client.items()}


def tenant_spec(number: int) -> dict:
    return {"slug": f"scale{number:05d}", "name": f"Scale Business {number}", "domain": f"scale{number}.localhost",
            "timezone": "Europe/London", "phone_numbers": [number_for(number)],
            "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]},
            "services": [{"name": "Consultation", "duration_minutes": 30}]}


def number_for(number: int) -> str:
    # +44 20 7xxx xxxx: London numbers, unique per tenant.
    return f"+442071{number:06d}"


def write_probe_migration(root: Path, name: str, previous: str) -> Path:
    path = root / "calls" / "migrations" / f"{name}.py"
    column = name.split("_", 1)[1]
    path.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('calls', '{previous}')]\n"
        f"    operations = [migrations.RunSQL('ALTER TABLE calls_callnote ADD COLUMN {column} integer',\n"
        f"                                    'ALTER TABLE calls_callnote DROP COLUMN {column}')]\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=100, help="latency requests per endpoint, per measurement")
    parser.add_argument("--database", default="soniq_scale")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database server and a Redis db of your own).")
    sys.path.insert(0, str(ROOT / "bench"))
    from call_start import drop_database
    from tool_latency import INTERNAL_TOKEN, Server, bench_database_url, prepare_database, server_env

    began = time.monotonic()
    database_url = bench_database_url(args.database)
    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f"[bench] timeit sum(range(10000)): {timeit.stdout.strip()}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    drop_database(database_url)
    prepare_database(database_url, skip_setup=False)
    os.environ.update(server_env(database_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "soniq_site.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import psycopg
    from django.db import connection

    from provisioning.services import tenant_provision
    from tenants.schema_template import spare_schemas_fill

    probes: list[Path] = []
    server = None
    try:
        server = Server(database_url, workers=2, threads=4)
        server.wait_ready()
        latency: dict[int, dict[str, list[float]]] = {}
        latency_round(server.url, INTERNAL_TOKEN, 10, server)  # warm-up
        latency[2] = latency_round(server.url, INTERNAL_TOKEN, args.rounds, server)
        print("\nLatency at 2 tenants:")
        for name, values in latency[2].items():
            print(f"  {name:<28}{summary(values)}")

        print(f"\n[bench] provisioning tenants 3..{args.tenants} ...", flush=True)
        provision_ms, refill_ms, fallback = [], [], 0
        for number in range(3, args.tenants + 1):
            spec = tenant_spec(number)
            connection.set_schema_to_public()
            t0 = time.perf_counter()
            tenant_provision(spec=spec)
            provision_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            made = spare_schemas_fill()
            refill_ms.append((time.perf_counter() - t0) * 1000)
            fallback += made > 1  # more than one spare to make: this provisioning did not take one
            if number % 100 == 0:
                print(f"  {number} tenants, last: {provision_ms[-1]:.0f} ms (+ refill {refill_ms[-1]:.0f} ms); "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        print("\nProvisioning (tenant_provision, wall clock):")
        print(f"  first hundred               {summary(provision_ms[:100])}")
        print(f"  last hundred                {summary(provision_ms[-100:])}")
        print(f"  making the next spare       {summary(refill_ms)}  (Celery's work, after the commit)")

        latency[args.tenants] = latency_round(server.url, INTERNAL_TOKEN, args.rounds, server)
        print(f"\nLatency at {args.tenants} tenants:")
        for name, values in latency[args.tenants].items():
            print(f"  {name:<28}{summary(values)}   (at 2 tenants: p50 {percentile(latency[2][name], .5):.1f})")

        with psycopg.connect(database_url, autocommit=True) as db:
            plan = db.execute(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT p.*, t.* FROM tenants_phonenumber p JOIN tenants_tenant t "
                "ON t.id = p.tenant_id WHERE p.number = %s LIMIT 1", [number_for(args.tenants // 2)]).fetchall()
            print("\nTenant lookup by the dialled number (the query of tenant_for_called_number):")
            print("\n".join("  " + row[0] for row in plan))
            size = db.execute("SELECT pg_size_pretty(pg_database_size(current_database())), "
                              "(SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace), "
                              "pg_size_pretty(pg_total_relation_size('pg_class')), "
                              "pg_size_pretty(pg_total_relation_size('pg_attribute')), "
                              "pg_size_pretty(pg_total_relation_size('pg_depend'))").fetchone()
        print(f"\nCatalog at {args.tenants} tenants: database {size[0]}, pg_class rows {size[1]}, schemas {size[2]}, "
              f"pg_class {size[3]}, pg_attribute {size[4]}, pg_depend {size[5]}")
        with psycopg.connect(database_url, autocommit=True) as db:
            locks = db.execute("SELECT current_setting('max_locks_per_transaction')::int * "
                               "current_setting('max_connections')::int").fetchone()[0]
        with tempfile.TemporaryDirectory() as dump_dir:
            # pg_dump locks every table and sequence in one transaction: past the shared lock table
            # (max_locks_per_transaction x max_connections) it fails.
            for label, extra in (("whole database", []), ("one tenant (-n public -n scale00003)",
                                                         ["-n", "public", "-n", "scale00003"])):
                t0 = time.perf_counter()
                done = subprocess.run(["pg_dump", "-Fc", "-f", f"{dump_dir}/dump", *extra, database_url],
                                      capture_output=True, text=True)
                dump_s = time.perf_counter() - t0
                if done.returncode:
                    print(f"pg_dump -Fc, {label}: FAILED after {dump_s:.1f} s (lock table {locks} slots): "
                          f"{done.stderr.strip().splitlines()[0]}")
                else:
                    print(f"pg_dump -Fc, {label}: {dump_s:.1f} s, {Path(dump_dir, 'dump').stat().st_size / 2**20:.1f} MB")

        # The deploy runs from a copy of the project, so the probe migrations never appear in this one.
        import shutil

        copy = Path(tempfile.mkdtemp(prefix="soniq-scale-deploy-"))
        probes.append(copy)
        shutil.copytree(ROOT, copy / "soniq", ignore=shutil.ignore_patterns(".git", ".var", "__pycache__", "node_modules"))
        deploy_root = copy / "soniq"
        previous = sorted(p.stem for p in (deploy_root / "calls" / "migrations").glob("0*.py"))[-1]
        env = server_env(database_url)
        for name, executor in zip(PROBE_MIGRATIONS, ["standard", "multiprocessing"], strict=True):
            write_probe_migration(deploy_root, name, previous)
            previous = name
            # multiprocessing: django-tenants' pool of TENANT_MULTIPROCESSING_MAX_PROCESSES (default 2) forks.
            extra = ["--executor", executor]
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--noinput", "-v", "0", *extra],
                           cwd=deploy_root, env=env, check=True)
            print(f"migrate_schemas, one new tenant migration, {args.tenants} tenants + template, {executor}: "
                  f"{time.perf_counter() - t0:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        import shutil

        for path in probes:
            shutil.rmtree(path, ignore_errors=True)
        if server is not None:
            server.stop()
            server.access_log.unlink(missing_ok=True)
        connection.close()
        if not args.keep_database:
            drop_database(database_url)
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).delete("celery", "messages", "ingest", "maintenance")
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
