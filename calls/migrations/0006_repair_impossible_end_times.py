"""Calls whose end-of-call log carried an `ended_at` that cannot belong to the call (before it
started, or after the log arrived: `0001-01-01T00:00:00+14:00` was stored as 1 BC, which psycopg
cannot read back, so every admin page listing the call answered 500). Such an end is replaced by
the call's start plus its duration, no later than the log's arrival. Written in SQL: the ORM cannot
even load these rows. calls/ingestion.py refuses such times from now on."""
from django.db import migrations

# Five minutes: ingestion.CLOCK_SKEW when this was written (a migration must not follow later edits).
REPAIR_SQL = """
UPDATE calls_call
SET ended_at = LEAST(started_at + COALESCE(duration_seconds, 0) * INTERVAL '1 second',
                     COALESCE(log_received_at, started_at + max_call_seconds * INTERVAL '1 second'))
WHERE ended_at < started_at - INTERVAL '5 minutes'
   OR (log_received_at IS NOT NULL AND ended_at > log_received_at + INTERVAL '5 minutes')
"""


class Migration(migrations.Migration):

    dependencies = [
        ("calls", "0005_sms_kinds_for_bookings"),
    ]

    operations = [
        migrations.RunSQL(REPAIR_SQL, reverse_sql=migrations.RunSQL.noop),
    ]
