"""The two calendar providers, behind one small interface: read a window of busy times, write or
delete a booking's event, and (Google) watch for changes. Only the libraries of the field talk to
the providers (google-api-python-client + google-auth; caldav); this module touches no database,
so a read can run in a thread that a voice tool waits for a bounded time (calendars.busy).

Soniq's own events are recognised by their id (`soniq…` on Google, `soniq-…` UIDs on CalDAV): they
are the bookings themselves and must not count as busy a second time."""
from __future__ import annotations

import datetime as dt
import functools
import json
import socket
import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

GOOGLE_SCOPES = ["https://www.googleapis.com/auth/calendar.events"]
GOOGLE_OWN_PREFIX = "soniq"
CALDAV_OWN_PREFIX = "soniq-"
UTC = dt.UTC


class ProviderError(Exception):
    """The provider could not be reached or refused the request. `transient`: worth retrying."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class AccessRevoked(ProviderError):
    """The provider no longer accepts our credentials (Google: invalid_grant on refresh; CalDAV: 401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True)
class BusyTime:
    start: dt.datetime
    end: dt.datetime
    source_event: str
    summary: str = ""


@dataclass(frozen=True)
class WindowRead:
    """A calendar between two moments: the business's busy times, and the ids of Soniq's own events."""

    busy: list[BusyTime]
    own_event_ids: set[str]


@dataclass(frozen=True)
class EventBody:
    external_id: str
    summary: str
    description: str
    start: dt.datetime
    end: dt.datetime
    link: str


def _day_span(start: dt.date, end: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """An all-day event (end date exclusive) as the business's local midnights, in UTC."""
    return (dt.datetime.combine(start, dt.time(0), tz).astimezone(UTC),
            dt.datetime.combine(end, dt.time(0), tz).astimezone(UTC))


# --- Google Calendar ---------------------------------------------------------------------------------

def google_credentials(*, secret: str):
    """google-auth credentials from the stored secret ({"token", "refresh_token", "expiry"}); the
    client id, secret and token endpoint are the deployment's (settings), not stored per tenant."""
    from google.oauth2.credentials import Credentials

    stored = json.loads(secret)
    expiry = dt.datetime.fromisoformat(stored["expiry"]).replace(tzinfo=None) if stored.get("expiry") else None
    return Credentials(token=stored.get("token"), refresh_token=stored.get("refresh_token"),
                       token_uri=settings.GOOGLE_OAUTH_TOKEN_URI, client_id=settings.GOOGLE_OAUTH_CLIENT_ID,
                       client_secret=settings.GOOGLE_OAUTH_CLIENT_SECRET, scopes=GOOGLE_SCOPES, expiry=expiry)


def google_secret(credentials) -> str:
    """What is stored (encrypted) of google-auth credentials. google-auth keeps `expiry` naive UTC."""
    return json.dumps({"token": credentials.token, "refresh_token": credentials.refresh_token,
                       "expiry": credentials.expiry.isoformat() if credentials.expiry else None})


def _google_error(error: Exception) -> ProviderError:
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(error, RefreshError):
        # invalid_grant: the owner revoked Soniq's access, or the refresh token expired.
        if "invalid_grant" in str(error):
            return AccessRevoked("Google no longer accepts Soniq's access to this calendar (revoked or expired).")
        return ProviderError(f"Google's token endpoint failed: {error}")
    if isinstance(error, HttpError):
        status = error.resp.status
        if status == 401:
            return AccessRevoked("Google refused Soniq's access token.")
        return ProviderError(f"Google Calendar answered {status}: {error.reason}", transient=status >= 500 or status == 429)
    if isinstance(error, TransportError | OSError | socket.timeout):
        return ProviderError(f"Google Calendar could not be reached: {error or type(error).__name__}")
    return ProviderError(f"Google Calendar failed: {error!r}")


@functools.cache
def _calendar_discovery() -> dict:
    """The Calendar API's discovery document shipped with google-api-python-client, parsed once per
    process: `build()` parses its ~200 KB each time, which was most of an in-call Google read
    (p50 299 ms against a 0.8 ms round trip on the bench machine)."""
    from googleapiclient.discovery_cache import get_static_doc

    return json.loads(get_static_doc("calendar", "v3"))


class GoogleCalendar:
    """One Google calendar, through google-api-python-client with google-auth's refreshing credentials.

    The API's address and the token endpoint come from settings (GOOGLE_CALENDAR_API_ROOT,
    GOOGLE_OAUTH_TOKEN_URI), so tests point the real client at a stand-in on loopback."""

    def __init__(self, *, calendar_id: str, secret: str, tz: zoneinfo.ZoneInfo, timeout: float) -> None:
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build_from_document

        self.calendar_id, self.tz = calendar_id, tz
        self.credentials = google_credentials(secret=secret)
        self._secret_before = secret
        http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=httplib2.Http(timeout=timeout))
        self.api = build_from_document(
            _calendar_discovery(), http=http,
            client_options={"api_endpoint": settings.GOOGLE_CALENDAR_API_ROOT.rstrip("/") + "/calendar/v3/"})

    def refreshed_secret(self) -> str | None:
        """The credentials to store if google-auth refreshed the access token meanwhile."""
        now = google_secret(self.credentials)
        return now if json.loads(now) != json.loads(self._secret_before) else None

    def _run(self, request):
        try:
            return request.execute(num_retries=0)
        except Exception as error:
            raise _google_error(error) from error

    def read_window(self, *, since: dt.datetime, until: dt.datetime) -> WindowRead:
        busy, own, page_token = [], set(), None
        while True:
            page = self._run(self.api.events().list(
                calendarId=self.calendar_id, timeMin=since.isoformat(), timeMax=until.isoformat(), singleEvents=True,
                showDeleted=False, maxResults=2500, pageToken=page_token))
            for item in page.get("items", []):
                if item.get("status") == "cancelled":
                    continue
                if item["id"].startswith(GOOGLE_OWN_PREFIX):
                    own.add(item["id"])
                    continue
                # "Show me as: available" (an all-day reminder, a note to self) takes no time.
                if item.get("transparency") == "transparent":
                    continue
                start, end = item.get("start", {}), item.get("end", {})
                if "dateTime" in start:
                    span = dt.datetime.fromisoformat(start["dateTime"]), dt.datetime.fromisoformat(end["dateTime"])
                else:
                    span = _day_span(dt.date.fromisoformat(start["date"]), dt.date.fromisoformat(end["date"]), self.tz)
                if span[0] < span[1]:
                    busy.append(BusyTime(span[0].astimezone(UTC), span[1].astimezone(UTC), item["id"],
                                         item.get("summary", "")[:300]))
            page_token = page.get("nextPageToken")
            if not page_token:
                return WindowRead(busy=busy, own_event_ids=own)

    def free_busy(self, *, since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """freeBusy.query: the alternative to a mirror (a read inside the decision), measured in
        bench/calendar_availability.py and not used by the platform: its intervals include Soniq's own
        events (counted twice) and cannot tell them apart (docs/calendars.md)."""
        answer = self._run(self.api.freebusy().query(body={
            "timeMin": since.isoformat(), "timeMax": until.isoformat(), "items": [{"id": self.calendar_id}]}))
        return [(dt.datetime.fromisoformat(busy["start"]), dt.datetime.fromisoformat(busy["end"]))
                for busy in answer["calendars"][self.calendar_id].get("busy", [])]

    def _event_payload(self, event: EventBody) -> dict:
        return {"summary": event.summary, "description": f"{event.description}\n\n{event.link}".strip(),
                "start": {"dateTime": event.start.isoformat()}, "end": {"dateTime": event.end.isoformat()},
                "status": "confirmed", "source": {"title": "Soniq booking", "url": event.link},
                "extendedProperties": {"private": {"soniq": "booking"}}}

    def event_put(self, event: EventBody, *, written_before: bool) -> None:
        """Insert with our own id, or patch: whichever fails (409 exists / 404 missing) leads to the other,
        so a retried insert updates the event it made instead of adding a second one. A patch with
        status=confirmed also brings back an event deleted in the calendar (the owner's "put back")."""
        from googleapiclient.errors import HttpError

        body = self._event_payload(event)
        events = self.api.events()
        attempts = (["patch", "insert"] if written_before else ["insert", "patch"])
        for attempt in attempts:
            try:
                if attempt == "insert":
                    events.insert(calendarId=self.calendar_id, body={"id": event.external_id, **body}).execute(num_retries=0)
                else:
                    events.patch(calendarId=self.calendar_id, eventId=event.external_id, body=body).execute(num_retries=0)
                return
            except HttpError as error:
                if (attempt == "insert" and error.resp.status == 409) or (attempt == "patch" and error.resp.status == 404):
                    continue
                raise _google_error(error) from error
            except Exception as error:
                raise _google_error(error) from error
        raise ProviderError("Google Calendar neither created nor updated the event.")

    def event_delete(self, external_id: str) -> None:
        from googleapiclient.errors import HttpError

        try:
            self.api.events().delete(calendarId=self.calendar_id, eventId=external_id).execute(num_retries=0)
        except HttpError as error:
            if error.resp.status in (404, 410):  # already gone: deleting is done
                return
            raise _google_error(error) from error
        except Exception as error:
            raise _google_error(error) from error

    def watch(self, *, channel_id: str, address: str, token: str, ttl_seconds: int) -> tuple[str, dt.datetime | None]:
        answer = self._run(self.api.events().watch(calendarId=self.calendar_id, body={
            "id": channel_id, "type": "web_hook", "address": address, "token": token,
            "params": {"ttl": str(ttl_seconds)}}))
        expires = (dt.datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC) if answer.get("expiration") else None)
        return answer["resourceId"], expires

    def stop_channel(self, *, channel_id: str, resource_id: str) -> None:
        self._run(self.api.channels().stop(body={"id": channel_id, "resourceId": resource_id}))


def google_revoke(*, secret: str, timeout: float) -> None:
    """Ask Google to revoke the refresh token (disconnect). google-auth has no revoke call; this is
    its documented endpoint (RFC 7009), posted through google-auth's own transport."""
    import google.auth.transport.requests

    stored = json.loads(secret)
    token = stored.get("refresh_token") or stored.get("token")
    if not token:
        return
    request = google.auth.transport.requests.Request()
    response = request(url=settings.GOOGLE_OAUTH_REVOKE_URI, method="POST", body=f"token={quote(token)}",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=timeout)
    if response.status not in (200, 400):  # 400: already revoked or unknown, which is what we want
        raise ProviderError(f"Google's revoke endpoint answered {response.status}.")


# --- CalDAV ---------------------------------------------------------------------------------------------

def _caldav_error(error: Exception) -> ProviderError:
    import requests
    from caldav.lib import error as caldav_error

    if isinstance(error, caldav_error.AuthorizationError):
        return AccessRevoked("The CalDAV server refused the username or app password.")
    if isinstance(error, requests.RequestException | OSError):
        return ProviderError(f"The CalDAV server could not be reached: {type(error).__name__}")
    if isinstance(error, caldav_error.NotFoundError):
        return ProviderError("The CalDAV server has no such calendar.", transient=False)
    return ProviderError(f"The CalDAV server failed: {error}")


def _caldav_client(*, url: str, username: str, password: str, timeout: float):
    import caldav

    return caldav.DAVClient(url=url, username=username, password=password, timeout=timeout)


def caldav_discover(*, url: str, username: str, password: str, timeout: float) -> list[tuple[str, str]]:
    """(name, URL) of every calendar the user has on the server (principal → calendar home)."""
    try:
        principal = _caldav_client(url=url, username=username, password=password, timeout=timeout).principal()
        return [(calendar.name or str(calendar.url), str(calendar.url)) for calendar in principal.calendars()]
    except Exception as error:
        raise _caldav_error(error) from error


class CaldavCalendar:
    def __init__(self, *, url: str, username: str, password: str, calendar_url: str, tz: zoneinfo.ZoneInfo,
                 timeout: float) -> None:
        self.client = _caldav_client(url=url, username=username, password=password, timeout=timeout)
        self.calendar = self.client.calendar(url=calendar_url)
        self.tz = tz

    def refreshed_secret(self) -> str | None:
        return None

    def read_window(self, *, since: dt.datetime, until: dt.datetime) -> WindowRead:
        try:
            found = self.calendar.search(start=since, end=until, event=True, expand=True)
        except Exception as error:
            raise _caldav_error(error) from error
        busy, own = [], set()
        for resource in found:
            for component in resource.icalendar_instance.walk("VEVENT"):
                uid = str(component.get("uid", ""))
                if uid.startswith(CALDAV_OWN_PREFIX):
                    own.add(uid)
                    continue
                if str(component.get("status", "")).upper() == "CANCELLED":
                    continue
                if str(component.get("transp", "")).upper() == "TRANSPARENT":
                    continue
                start = component.decoded("dtstart")
                if "dtend" in component:
                    end = component.decoded("dtend")
                else:
                    end = start + (component.decoded("duration") if "duration" in component else dt.timedelta(days=1)
                                   if not isinstance(start, dt.datetime) else dt.timedelta(0))
                if not isinstance(start, dt.datetime):
                    start, end = _day_span(start, end, self.tz)
                else:
                    # A floating time (no zone) is the business's own wall clock.
                    start = start if start.tzinfo else start.replace(tzinfo=self.tz)
                    end = end if end.tzinfo else end.replace(tzinfo=self.tz)
                if start < end:
                    busy.append(BusyTime(start.astimezone(UTC), end.astimezone(UTC), uid,
                                         str(component.get("summary", ""))[:300]))
        return WindowRead(busy=busy, own_event_ids=own)

    def _object_url(self, external_id: str):
        return self.calendar.url.join(quote(external_id) + ".ics")

    def event_put(self, event: EventBody, *, written_before: bool) -> None:
        """PUT to the event's own URL (derived from its UID): a retry overwrites the same object."""
        import icalendar

        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//Soniq//bookings//EN")
        calendar.add("version", "2.0")
        vevent = icalendar.Event()
        vevent.add("uid", event.external_id)
        vevent.add("dtstamp", dt.datetime.now(UTC))
        vevent.add("dtstart", event.start.astimezone(UTC))
        vevent.add("dtend", event.end.astimezone(UTC))
        vevent.add("summary", event.summary)
        vevent.add("description", f"{event.description}\n\n{event.link}".strip())
        if event.link:
            vevent.add("url", event.link)
        calendar.add_component(vevent)
        try:
            response = self.client.put(str(self._object_url(event.external_id)), calendar.to_ical().decode(),
                                       {"Content-Type": 'text/calendar; charset="utf-8"'})
        except Exception as error:
            raise _caldav_error(error) from error
        if response.status not in (200, 201, 204):
            raise ProviderError(f"The CalDAV server answered {response.status} to the event.",
                                transient=response.status >= 500 or response.status == 429)

    def event_delete(self, external_id: str) -> None:
        try:
            response = self.client.delete(str(self._object_url(external_id)))
        except Exception as error:
            raise _caldav_error(error) from error
        # 404/410: already gone, which is what deleting wanted.
        if response.status not in (200, 204, 404, 410):
            raise ProviderError(f"The CalDAV server answered {response.status} to deleting the event.",
                                transient=response.status >= 500 or response.status == 429)
