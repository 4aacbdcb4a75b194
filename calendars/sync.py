"""What the Celery tasks of calendars/tasks.py run: the sync of one calendar (`calendar_sync`: busy
times into the mirror, pending events written, deleted events turned into conflicts, Google's push
channel kept alive) and the write of one booking's event (`calendar_event_push`), with what both
need: the provider of a connection, the mirrored window, and the record of each success or failure
on the connection (the owner told once per outage). calendars/services.py uses the same records for
the read a voice tool waits for.

Its own module so that the tasks import this and stay thin, and calendars/services.py, which queues
the tasks, imports calendars/tasks.py at the top: no services <-> tasks circle. Nothing here queues
a task.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection as db_connection
from django.db import transaction

from calendars import providers
from calendars.crypto import SecretUnreadable, secret_open, secret_seal
from calendars.models import CalendarBusy, CalendarConnection, CalendarEvent
from core import clock
from notifications.events import admin_url, calendar_problem
from tenants.selectors import tenant_timezone

logger = logging.getLogger("calendars")

Status = CalendarConnection.Status
PUSH_SIGNING_SALT = "calendars.google.push"


# --- Which window, which provider ----------------------------------------------------------------------

def sync_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The stretch of time mirrored: from a day ago (today's bookings) to CALENDAR_SYNC_DAYS ahead."""
    return now - dt.timedelta(days=1), now + dt.timedelta(days=settings.CALENDAR_SYNC_DAYS)

def calendar_provider(connection: CalendarConnection):
    timeout = settings.CALENDAR_HTTP_TIMEOUT_SECONDS
    secret = secret_open(connection.secret)
    if connection.provider == CalendarConnection.Provider.GOOGLE:
        return providers.GoogleCalendar(calendar_id=connection.calendar_id, secret=secret, tz=tenant_timezone(),
                                        timeout=timeout)
    return providers.CaldavCalendar(url=connection.caldav_url, username=connection.caldav_username, password=secret,
                                    calendar_url=connection.calendar_id, tz=tenant_timezone(), timeout=timeout)


# --- Recording what a read or a write did -----------------------------------------------------------

def calendar_busy_store(*, connection: CalendarConnection, read: providers.WindowRead, since: dt.datetime,
                until: dt.datetime, now: dt.datetime) -> None:
    with transaction.atomic():
        # Replaced, not merged: an event moved or deleted in the calendar must stop blocking.
        CalendarBusy.objects.filter(connection=connection, start__lt=until, end__gt=since).delete()
        CalendarBusy.objects.bulk_create([
            CalendarBusy(connection=connection, start=busy.start, end=busy.end, source_event=busy.source_event[:1024],
                         summary=busy.summary) for busy in read.busy])
        CalendarConnection.objects.filter(pk=connection.pk).update(busy_synced_at=now)
        connection.busy_synced_at = now


def calendar_success_record(connection: CalendarConnection, *, now: dt.datetime, refreshed_secret: str | None = None) -> None:
    fields: dict[str, Any] = {"last_success_at": now, "failing_since": None}
    if refreshed_secret:
        fields["secret"] = secret_seal(refreshed_secret)
    CalendarConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


def calendar_failure_record(connection: CalendarConnection, *, error: Exception, now: dt.datetime, outage: bool = True) -> None:
    """Record a failed read or write. `outage`: a sync or an event write failed (not just a read a
    call waited for), so the calendar is failing and the owner hears of it, once per outage (the
    first failure after a success). Revoked access is always told, once."""
    message = str(error)[:2000]
    revoked = isinstance(error, providers.AccessRevoked | SecretUnreadable)
    fields: dict[str, Any] = {"last_error": message, "last_error_at": now}
    first = outage and connection.failing_since is None
    if first or (revoked and connection.failing_since is None):
        fields["failing_since"] = now
    newly_revoked = revoked and connection.status == Status.CONNECTED
    if newly_revoked:
        fields["status"] = Status.REVOKED
    CalendarConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)
    logger.warning("calendar %s (%s) failed: %s", connection.pk, db_connection.schema_name, message)
    if first or newly_revoked:
        outage_start = connection.failing_since.isoformat()
        calendar_problem(
            key=f"calendar:{connection.pk}:{'revoked' if revoked else 'failing'}:{outage_start}",
            subject=(f"Calendar {connection.name}: connect it again" if revoked else f"Calendar {connection.name} is not answering"),
            body=(f"Soniq could not reach your calendar \"{connection.name}\": {message}\n\n"
                  + ("Nothing is read from or written to it until you connect it again; its last known busy times "
                     "still block bookings until then.\n" if revoked else
                     "Bookings go on with its last known busy times and are written to it once it answers again.\n")
                  + f"\n{admin_url(f'calendars/calendarconnection/{connection.pk}/change/')}"),
        )


# --- The sync of one calendar -------------------------------------------------------------------------

def calendar_sync(*, connection: CalendarConnection, now: dt.datetime | None = None) -> None:
    """Read the calendar's window into the mirror, write the events still pending, find the events
    the business deleted (conflicts), and keep Google's push channel alive. Raises ProviderError
    (after recording it) so the task can retry a transient one."""
    now = now or clock.now()
    if connection.status != Status.CONNECTED:
        return
    since, until = sync_window(now)
    try:
        provider = calendar_provider(connection)
        read_started = clock.now()
        window = provider.read_window(since=since, until=until)
        calendar_busy_store(connection=connection, read=window, since=since, until=until, now=now)
        _conflicts_find(connection=connection, own_event_ids=window.own_event_ids, since=since, until=until,
                        read_started=read_started)
        for event in CalendarEvent.objects.filter(connection=connection, state=CalendarEvent.State.PENDING):
            _event_push(event=event, provider=provider, now=now)
        _channel_keep(connection=connection, provider=provider, now=now)
        calendar_success_record(connection, now=now, refreshed_secret=provider.refreshed_secret())
    except (providers.ProviderError, SecretUnreadable) as error:
        calendar_failure_record(connection, error=error, now=now)
        raise


def _conflicts_find(*, connection: CalendarConnection, own_event_ids: set[str], since: dt.datetime,
                    until: dt.datetime, read_started: dt.datetime) -> None:
    """An event of a confirmed booking that the calendar no longer has was deleted there by the
    business. It is not written back (that would undo the owner's staff) and the booking is not
    cancelled (the customer was told it stands): the owner resolves it in the admin."""
    missing = CalendarEvent.objects.filter(
        connection=connection, state=CalendarEvent.State.SYNCED, present=True, start__lt=until, end__gt=since,
        # Written after the read began: the listing may simply not show it yet.
        pushed_at__lt=read_started,
    ).exclude(external_id__in=own_event_ids)
    for event in missing.select_related("booking"):
        CalendarEvent.objects.filter(pk=event.pk, state=CalendarEvent.State.SYNCED).update(
            state=CalendarEvent.State.CONFLICT, conflict_at=clock.now())
        calendar_problem(
            key=f"calendar-event:{event.pk}:conflict:{event.pushed_version}",
            subject=f"Booking deleted from {connection.name}: {event.summary}",
            body=(f"The event for the booking \"{event.summary}\" ({_local_text(event.start)}) was deleted in your "
                  f"calendar \"{connection.name}\", but the booking is still confirmed and the customer expects it.\n\n"
                  f"Put the event back, or cancel the booking (the customer is then texted):\n"
                  f"{admin_url(f'calendars/calendarevent/{event.pk}/change/')}"),
        )


def _local_text(moment: dt.datetime) -> str:
    local = moment.astimezone(tenant_timezone())
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def _channel_keep(*, connection: CalendarConnection, provider, now: dt.datetime) -> None:
    """Google push: watch the calendar's events; renew the channel a day before it expires. Without
    CALENDAR_PUBLIC_URL (no address Google can reach) the periodic sync alone keeps the mirror."""
    if connection.provider != CalendarConnection.Provider.GOOGLE or not settings.CALENDAR_PUBLIC_URL:
        return
    if connection.channel_id and connection.channel_expires_at and connection.channel_expires_at > now + dt.timedelta(days=1):
        return
    old = (connection.channel_id, connection.channel_resource_id)
    channel_id = secrets.token_hex(16)
    token = signing.dumps({"schema": db_connection.schema_name, "connection": connection.pk, "channel": channel_id},
                          salt=PUSH_SIGNING_SALT)
    try:
        resource_id, expires = provider.watch(
            channel_id=channel_id, address=settings.CALENDAR_PUBLIC_URL.rstrip("/") + "/calendars/google/notify",
            token=token, ttl_seconds=settings.CALENDAR_CHANNEL_TTL_SECONDS)
    except providers.AccessRevoked:
        raise
    except providers.ProviderError as error:
        # Google refuses channels to an address it cannot verify (not https, domain not registered):
        # the calendar still works, read by the periodic sync and during calls.
        logger.warning("calendar %s: no push channel: %s", connection.pk, error)
        return
    CalendarConnection.objects.filter(pk=connection.pk).update(
        channel_id=channel_id, channel_resource_id=resource_id, channel_expires_at=expires)
    connection.channel_id, connection.channel_resource_id, connection.channel_expires_at = channel_id, resource_id, expires
    if old[0]:
        try:
            provider.stop_channel(channel_id=old[0], resource_id=old[1])
        except providers.ProviderError as error:  # it expires by itself within a day
            logger.info("old channel %s not stopped: %s", old[0], error)


# --- Writing one booking's event -------------------------------------------------------------------

def _event_body(event: CalendarEvent) -> providers.EventBody:
    return providers.EventBody(external_id=event.external_id, summary=event.summary, description=event.description,
                               start=event.start, end=event.end,
                               link=admin_url(f"bookings/booking/{event.booking_id}/change/"))


def _event_push(*, event: CalendarEvent, provider, now: dt.datetime) -> None:
    version = event.version
    if event.present:
        provider.event_put(_event_body(event), written_before=event.pushed_version > 0)
        done = CalendarEvent.State.SYNCED
    else:
        provider.event_delete(event.external_id)
        done = CalendarEvent.State.REMOVED
    # Only the version written is marked done: a change made meanwhile stays pending (its own task follows).
    CalendarEvent.objects.filter(pk=event.pk, version=version).update(
        state=done, pushed_version=version, pushed_at=clock.now(), last_error="")
    CalendarEvent.objects.filter(pk=event.pk).exclude(version=version).update(pushed_version=version)


def calendar_event_push(*, event_id: int, last_attempt: bool = False) -> str:
    """Write one booking's event (or its deletion) to its calendar. Raises ProviderError for a
    transient failure (the task retries); a permanent one, or the last attempt, is recorded on the
    event and the connection and left for the periodic sync."""
    now = clock.now()
    event = CalendarEvent.objects.select_related("connection").filter(pk=event_id).first()
    if event is None or event.state != CalendarEvent.State.PENDING:
        return "nothing to do"
    connection = event.connection
    if connection.status != Status.CONNECTED:
        return "calendar not connected"
    try:
        _event_push(event=event, provider=calendar_provider(connection), now=now)
    except (providers.ProviderError, SecretUnreadable) as error:
        CalendarEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1, last_error=str(error)[:2000])
        transient = getattr(error, "transient", False)
        if transient and not last_attempt:
            raise
        calendar_failure_record(connection, error=error, now=now)
        return "failed"
    calendar_success_record(connection, now=now)
    return "written"
