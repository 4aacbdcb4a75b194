"""Calendar sync: connecting and disconnecting calendars, the local mirror of their busy times, and
the events bookings become in them.

Why a mirror and not a free/busy read inside the booking's decision (figures: docs/BENCHMARKS.md,
"Calendar sync"): the decision holds the service's row lock, so a provider round trip inside it
would make every booker of that service wait for Google; free/busy answers count Soniq's own events
(the bookings, already counted) as busy a second time; and a provider that is down must leave us
the last known busy times anyway. So busy times are read into `CalendarBusy` by the periodic sync,
by Google's push notifications, and, when the mirror is older than CALENDAR_FRESH_SECONDS, by the
voice tool itself before its transaction, waiting at most CALENDAR_CALL_WAIT_MS. The decision then
reads the mirror under the same row lock as the bookings, in the same statement as they are read
(`calendar_busy_rows_sql`, a UNION ALL in `bookings.availability.confirmed_bookings_between`).

Bookings are written to the calendar after their commit (`calendar_booking_changed`, called from the
booking's follow-up): the desired event is recorded in `CalendarEvent` and a Celery task pushes it,
retrying with backoff; the periodic sync pushes whatever is still pending, so nothing is lost while a
provider is down. An event the business deletes in its calendar becomes a conflict for the owner:
the booking stands until the owner decides.

What the tasks run (the sync of one calendar, the write of one event) is in calendars/sync.py; this
module queues them (calendars/tasks.py).
"""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q

from calendars import providers
from calendars.crypto import SecretUnreadable, secret_open, secret_seal
from calendars.models import CalendarBusy, CalendarConnection, CalendarEvent, CalendarFallback
from calendars.sync import (
    PUSH_SIGNING_SALT,
    calendar_busy_store,
    calendar_failure_record,
    calendar_provider,
    calendar_success_record,
    sync_window,
)
from calendars.tasks import calendar_event_push_task, calendar_sync_task
from core import clock
from core.trial_calls import from_test_call
from tenants.selectors import tenant_timezone

logger = logging.getLogger("calendars")

Status = CalendarConnection.Status
BLOCKING_STATUSES = (Status.CONNECTED, Status.REVOKED)
OAUTH_SIGNING_SALT = "calendars.google.oauth"

# Reads a voice tool waits for run here, so the wait can be cut short; the read itself only talks
# HTTP (providers touch no database) and ends at CALENDAR_HTTP_TIMEOUT_SECONDS at the latest.
_call_reads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="calendar-read")


# --- Which calendars ----------------------------------------------------------------------------------

def _live_connections(*, service_id: int | None = None):
    connections = CalendarConnection.objects.filter(status=Status.CONNECTED)
    if service_id is not None:
        connections = connections.filter(Q(service__isnull=True) | Q(service_id=service_id))
    return connections


# --- Busy times: the mirror and the one read the booking decision makes --------------------------------

def calendar_busy_rows_sql() -> str:
    """The mirror's busy times of the calendars connected to a service (or to the whole business) that
    overlap [since, until), as SQL of (start, end, lane, blocks) rows with lane -1 (no lane of the
    service's): the booking decision reads it in the same statement as the service's bookings
    (`bookings.availability.confirmed_bookings_between`), under the service's row lock, and it never
    waits for a provider. `calendar_places` says how many places each row takes. Named parameters:
    `since`, `until`, `service_id`, `blocking_statuses` (`BLOCKING_STATUSES`).

    SQL rather than a queryset: the ORM took 0.8 ms of CPU to compile the statement, under the lock."""
    busy, connections = CalendarBusy._meta.db_table, CalendarConnection._meta.db_table
    # A revoked calendar's last known busy times still block until the owner reconnects or
    # disconnects it: better a time not offered than a double booking.
    return (f'SELECT busy."start", busy."end", -1, connection."blocks" FROM "{busy}" busy '
            f'JOIN "{connections}" connection ON connection."id" = busy."connection_id" '
            'WHERE connection."status" = ANY(%(blocking_statuses)s) AND busy."start" < %(until)s '
            'AND busy."end" > %(since)s '
            'AND (connection."service_id" IS NULL OR connection."service_id" = %(service_id)s)')


def calendar_places(*, blocks: str | None, capacity: int) -> int:
    """Places a busy time of a calendar set to `blocks` takes: each takes one, so `free_lane` counts it,
    and a calendar set to block the whole service takes all `capacity` of them. None (a booking's
    row beside the busy times) takes its one place."""
    return capacity if blocks == CalendarConnection.Blocks.ALL_PLACES else 1


def _fresh(connection: CalendarConnection, now: dt.datetime) -> bool:
    if connection.busy_synced_at is None:
        return False
    # A Google calendar with a live push channel tells us of each change within seconds.
    pushed = bool(connection.channel_id) and connection.channel_expires_at and connection.channel_expires_at > now
    limit = settings.CALENDAR_PUSH_FRESH_SECONDS if pushed else settings.CALENDAR_FRESH_SECONDS
    # A read stamped in the future (another host's clock ahead of ours) proves nothing: stale.
    return dt.timedelta(0) <= now - connection.busy_synced_at < dt.timedelta(seconds=limit)


def _recently_failed(connection: CalendarConnection, now: dt.datetime) -> bool:
    """A calendar that just failed is not waited for again on every tool call of the conversation."""
    return bool(connection.last_error_at
                and (connection.last_success_at is None or connection.last_error_at > connection.last_success_at)
                and dt.timedelta(0) <= now - connection.last_error_at
                < dt.timedelta(seconds=settings.CALENDAR_RETRY_AFTER_FAILURE_SECONDS))


@dataclass
class _PendingRead:
    connection: CalendarConnection
    future: concurrent.futures.Future | None
    since: dt.datetime
    until: dt.datetime
    not_asked: str = ""


def _read_window(provider_factory, since: dt.datetime, until: dt.datetime):
    provider = provider_factory()
    return provider.read_window(since=since, until=until), provider.refreshed_secret()


def calendars_refresh_for_call(*, call, now: dt.datetime | None = None) -> list[CalendarFallback]:
    """Before a voice tool decides on availability: bring stale mirrors up to date, waiting at most
    CALENDAR_CALL_WAIT_MS for all of them together. A calendar that does not answer in time (or
    fails, or failed moments ago) leaves its last known busy times in place, and the call's log
    records that it did (`CalendarFallback`, shown on the call's page). Runs outside any
    transaction: no row lock is held while a provider is waited for."""
    now = now or clock.now()
    stale = [connection for connection in _live_connections() if not _fresh(connection, now)]
    if not stale:
        return []
    since, until = sync_window(now)
    pending = []
    for connection in stale:
        future = None
        if not _recently_failed(connection, now):
            try:
                factory = _provider_factory(connection)
            except SecretUnreadable as error:
                calendar_failure_record(connection, error=error, now=now)
                pending.append(_PendingRead(connection, None, since, until, str(error)))
                continue
            future = _call_reads.submit(_read_window, factory, since, until)
        pending.append(_PendingRead(connection, future, since, until))
    futures = [read.future for read in pending if read.future is not None]
    if futures:
        concurrent.futures.wait(futures, timeout=settings.CALENDAR_CALL_WAIT_MS / 1000)
    fallbacks = []
    for read in pending:
        connection, reason = read.connection, None
        if read.not_asked:
            reason = read.not_asked
        elif read.future is None:
            reason = f"not asked (it failed {_ago(connection.last_error_at, now)}: {connection.last_error[:200]})"
        elif not read.future.done():
            read.future.cancel()
            reason = f"no answer within {settings.CALENDAR_CALL_WAIT_MS} ms"
            calendar_failure_record(connection, error=providers.ProviderError(reason), now=now, outage=False)
        else:
            try:
                window, refreshed = read.future.result()
            except providers.ProviderError as error:
                reason = str(error)
                calendar_failure_record(connection, error=error, now=now, outage=False)
            except Exception as error:  # a bug or a provider's surprise must not fail the caller's tool
                logger.exception("calendar %s: in-call read failed", connection.pk)
                reason = f"the read failed ({type(error).__name__})"
                calendar_failure_record(connection, error=providers.ProviderError(reason), now=now, outage=False)
            else:
                calendar_busy_store(connection=connection, read=window, since=read.since, until=read.until, now=now)
                calendar_success_record(connection, now=now, refreshed_secret=refreshed)
        if reason:
            as_of = connection.busy_synced_at
            text = (f"Calendar \"{connection.name}\": {reason}; availability used its busy times as of "
                    f"{as_of.astimezone(tenant_timezone()):%Y-%m-%d %H:%M}." if as_of else
                    f"Calendar \"{connection.name}\": {reason}; it has never been read, so none of its busy times were used.")
            fallbacks.append(CalendarFallback.objects.create(call=call, connection=connection, busy_as_of=as_of,
                                                             reason=text[:500]))
            logger.warning("call %s: %s", call.pk if call else None, text)
    return fallbacks


def _ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    return f"{int((now - moment).total_seconds())} s ago" if moment else "earlier"


def _provider_factory(connection: CalendarConnection):
    """The provider, built later in a reader thread from values read here (the thread has no tenant
    schema of its own to read them with)."""
    secret, tz, timeout = secret_open(connection.secret), tenant_timezone(), settings.CALENDAR_HTTP_TIMEOUT_SECONDS
    provider, calendar_id = connection.provider, connection.calendar_id
    url, username = connection.caldav_url, connection.caldav_username

    def build():
        if provider == CalendarConnection.Provider.GOOGLE:
            return providers.GoogleCalendar(calendar_id=calendar_id, secret=secret, tz=tz, timeout=timeout)
        return providers.CaldavCalendar(url=url, username=username, password=secret, calendar_url=calendar_id, tz=tz,
                                        timeout=timeout)
    return build


# --- Google's push notifications -----------------------------------------------------------------------

def calendar_push_verify(*, token: str, channel_id: str) -> tuple[str, int] | None:
    """(schema, connection id) of a push notification whose channel token we signed, or None."""
    try:
        claims = signing.loads(token, salt=PUSH_SIGNING_SALT)
    except signing.BadSignature:
        return None
    if claims.get("channel") != channel_id:
        return None
    return claims["schema"], int(claims["connection"])


def calendar_push_received(*, connection_id: int, channel_id: str) -> bool:
    """A push notification for a channel of ours in the current schema: sync that calendar soon.
    False for a channel we no longer keep (an old one, or a disconnected calendar)."""
    live = _live_connections().filter(pk=connection_id, channel_id=channel_id).exists()
    if live:
        calendar_sync_task.delay(connection_id)
    return live


# --- Bookings become events ----------------------------------------------------------------------------

def _external_id(connection: CalendarConnection, booking_id: int) -> str:
    """Derived, not random: a retried insert names the same event. Google allows a-v and 0-9."""
    digest = hashlib.sha256(f"{db_connection.schema_name}:{connection.pk}:{booking_id}".encode()).hexdigest()[:40]
    if connection.provider == CalendarConnection.Provider.GOOGLE:
        return f"{providers.GOOGLE_OWN_PREFIX}{digest}"
    return f"{providers.CALDAV_OWN_PREFIX}{digest}@soniq"


def calendar_booking_changed(*, booking) -> None:
    """The booking's follow-up (after its commit): record what each connected calendar should show
    for it (the event, or none once cancelled) and queue the write. Never raises: the booking is
    done whatever the calendar does; the periodic sync writes what a lost task did not.

    A test call's booking (the owner trying their agent) never reaches the calendar: it is removed
    when the call ends, and its event would stay behind in the owner's real calendar
    (core.trial_calls: every follow-up asks)."""
    if from_test_call(booking):
        return
    try:
        _booking_changed(booking=booking)
    except Exception:
        logger.exception("calendar follow-up for booking %s failed", getattr(booking, "pk", None))


def _booking_changed(*, booking) -> None:
    service = booking.service
    present = booking.status == "confirmed"
    customer = f"{booking.customer_name} ({booking.customer_phone})"
    summary = f"{service.name}: {booking.customer_name}"[:300]
    description = "\n".join(line for line in [
        f"Customer: {customer}", f"Notes: {booking.notes}" if booking.notes else "",
        "Booked by phone with Soniq." if booking.call_id else "Booked in Soniq by the business."] if line)
    # Read before the transaction: most businesses connect no calendar, and then every booking's
    # follow-up would open and close a transaction around one empty read (two round trips).
    connections = list(_live_connections(service_id=service.pk))
    if not connections:
        return
    to_push = []
    with transaction.atomic():
        for connection in connections:
            event = CalendarEvent.objects.select_for_update().filter(connection=connection, booking_id=booking.pk).first()
            if event is None:
                if not present:
                    continue  # never written: nothing to delete
                event = CalendarEvent(connection=connection, booking_id=booking.pk,
                                      external_id=_external_id(connection, booking.pk), version=0)
            event.present, event.summary, event.description = present, summary, description
            event.start, event.end = booking.start, booking.end
            event.version += 1
            # A conflict the owner has not resolved stays one while the booking stands; a cancel
            # resolves it (the event is deleted either way).
            if present and event.state in (CalendarEvent.State.CONFLICT, CalendarEvent.State.DISMISSED):
                event.save()
                continue
            event.state = CalendarEvent.State.PENDING
            event.save()
            to_push.append(event.pk)
    for event_id in to_push:
        try:
            calendar_event_push_task.delay(event_id)
        except Exception as error:  # broker down: the periodic sync pushes pending events
            logger.warning("calendar event %s not queued: %s", event_id, error)


def calendar_event_put_back(*, event: CalendarEvent) -> None:
    """The owner's answer to a conflict: the booking stands, so the event goes back in the calendar."""
    CalendarEvent.objects.filter(pk=event.pk).update(state=CalendarEvent.State.PENDING, version=event.version + 1,
                                                     conflict_at=None)
    transaction.on_commit(lambda: calendar_event_push_task.delay(event.pk), robust=True)


def calendar_event_dismiss(*, event: CalendarEvent) -> None:
    """The owner's other answer: keep the booking, leave it out of the calendar."""
    CalendarEvent.objects.filter(pk=event.pk).update(state=CalendarEvent.State.DISMISSED)


# --- Connecting and disconnecting --------------------------------------------------------------------

def calendar_caldav_connect(*, service, name: str, server_url: str, username: str, password: str,
                            calendar_url: str, blocks: str) -> CalendarConnection:
    connection = CalendarConnection.objects.create(
        provider=CalendarConnection.Provider.CALDAV, service=service, name=name[:200], calendar_id=calendar_url,
        caldav_url=server_url, caldav_username=username, secret=secret_seal(password), blocks=blocks,
        status=Status.CONNECTED)
    transaction.on_commit(lambda: calendar_sync_task.delay(connection.pk), robust=True)
    return connection


def _google_flow(*, redirect_uri: str, code_verifier: str | None = None):
    from google_auth_oauthlib.flow import Flow

    client_config = {"web": {
        "client_id": settings.GOOGLE_OAUTH_CLIENT_ID, "client_secret": settings.GOOGLE_OAUTH_CLIENT_SECRET,
        "auth_uri": settings.GOOGLE_OAUTH_AUTH_URI, "token_uri": settings.GOOGLE_OAUTH_TOKEN_URI,
        "redirect_uris": [redirect_uri]}}
    return Flow.from_client_config(client_config, scopes=providers.GOOGLE_SCOPES, redirect_uri=redirect_uri,
                                   code_verifier=code_verifier, autogenerate_code_verifier=code_verifier is None)


def google_redirect_uri() -> str:
    """One redirect URI for every tenant (Google wants each registered): the public host's relay,
    which sends the browser on to the tenant's own admin named in the signed `state`."""
    return settings.CALENDAR_PUBLIC_URL.rstrip("/") + "/calendars/google/callback"


def google_state_domain(state: str) -> str | None:
    """The tenant domain a signed OAuth `state` was issued for (the relay's only question)."""
    try:
        return signing.loads(state, salt=OAUTH_SIGNING_SALT, max_age=settings.CALENDAR_OAUTH_MAX_AGE_SECONDS)["domain"]
    except (signing.BadSignature, KeyError, TypeError):
        return None


def calendar_google_start(*, service, calendar_id: str, blocks: str, domain: str) -> tuple[CalendarConnection, str]:
    """A pending Google connection and the consent URL to send the owner to (offline access, so we
    get a refresh token; consent prompted, so a second connection gets one too)."""
    connection = CalendarConnection.objects.create(
        provider=CalendarConnection.Provider.GOOGLE, service=service, name=f"Google: {calendar_id}"[:200],
        calendar_id=calendar_id, blocks=blocks, status=Status.PENDING)
    state = signing.dumps({"domain": domain, "connection": connection.pk, "nonce": secrets.token_hex(8)},
                          salt=OAUTH_SIGNING_SALT)
    flow = _google_flow(redirect_uri=google_redirect_uri())
    url, _state = flow.authorization_url(access_type="offline", prompt="consent", include_granted_scopes="true",
                                         state=state)
    CalendarConnection.objects.filter(pk=connection.pk).update(oauth_state=hashlib.sha256(state.encode()).hexdigest(),
                                                               oauth_code_verifier=flow.code_verifier or "")
    return connection, url


class OAuthRefused(Exception):
    """The consent came back refused, stale, or not for a connection waiting for it."""


def calendar_google_finish(*, state: str, code: str, error: str = "") -> CalendarConnection:
    """Google sent the owner back: exchange the code (with the PKCE verifier) for tokens, store them
    encrypted, and start the first sync."""
    digest = hashlib.sha256(state.encode()).hexdigest()
    connection = CalendarConnection.objects.filter(status=Status.PENDING, oauth_state=digest).first()
    if connection is None or google_state_domain(state) is None:
        raise OAuthRefused("This Google sign-in is not one Soniq is waiting for (or it took too long). Start again.")
    if error or not code:
        CalendarConnection.objects.filter(pk=connection.pk).update(status=Status.DISCONNECTED, oauth_state="",
                                                                   disconnected_at=clock.now())
        raise OAuthRefused("Google did not give Soniq access to the calendar, so nothing was connected.")
    flow = _google_flow(redirect_uri=google_redirect_uri(), code_verifier=connection.oauth_code_verifier)
    try:
        flow.fetch_token(code=code)
    except Exception as exchange_error:
        raise OAuthRefused(f"Google did not accept the sign-in ({exchange_error}). Start again.") from exchange_error
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise OAuthRefused("Google gave no refresh token, so Soniq could not keep reading the calendar. Start again.")
    CalendarConnection.objects.filter(pk=connection.pk).update(
        secret=secret_seal(providers.google_secret(credentials)), status=Status.CONNECTED, oauth_state="",
        oauth_code_verifier="")
    connection.refresh_from_db()
    transaction.on_commit(lambda: calendar_sync_task.delay(connection.pk), robust=True)
    return connection


def calendar_disconnect(*, connection: CalendarConnection) -> str:
    """Stop everything: the push channel, Google's access (revoked), the mirror (its busy times stop
    blocking at once) and any event not yet written. Events already in the calendar stay there: they
    are the business's now. Returns the sentence the admin shows."""
    notes = []
    if connection.provider == CalendarConnection.Provider.GOOGLE and connection.secret:
        try:
            provider = calendar_provider(connection)
            if connection.channel_id:
                provider.stop_channel(channel_id=connection.channel_id, resource_id=connection.channel_resource_id)
            providers.google_revoke(secret=secret_open(connection.secret), timeout=settings.CALENDAR_HTTP_TIMEOUT_SECONDS)
        except (providers.ProviderError, SecretUnreadable, OSError) as error:
            notes.append(f"Google could not be told ({error}); remove Soniq under your Google account's third-party access.")
    with transaction.atomic():
        CalendarBusy.objects.filter(connection=connection).delete()
        CalendarEvent.objects.filter(connection=connection, state=CalendarEvent.State.PENDING).delete()
        CalendarConnection.objects.filter(pk=connection.pk).update(
            status=Status.DISCONNECTED, secret="", oauth_state="", oauth_code_verifier="", channel_id="",
            channel_resource_id="", channel_expires_at=None, disconnected_at=clock.now())
    return " ".join([f"Disconnected {connection.name}: its busy times no longer block bookings and new bookings are "
                     "not written to it. Events already written stay in that calendar."] + notes)
