"""A local stand-in for Google on loopback, speaking the parts of its protocols Soniq uses, so the real
client libraries (google-auth, google-auth-oauthlib, google-api-python-client) can be driven against
it: point GOOGLE_OAUTH_AUTH_URI / GOOGLE_OAUTH_TOKEN_URI / GOOGLE_OAUTH_REVOKE_URI /
GOOGLE_CALENDAR_API_ROOT at it (`settings()`).

- OAuth 2.0: the consent screen (`consent(url)` plays the owner clicking Allow and returns where
  Google sends the browser), the token endpoint (authorization_code with PKCE S256, refresh_token,
  `invalid_grant` once revoked), the revoke endpoint.
- Calendar API v3: events list (timeMin/timeMax, singleEvents, pages), insert (409 on a used id),
  patch (404 on a missing id), delete (410 when already deleted), watch (a push channel) and
  channels.stop, freeBusy.query. Every call needs a live access token (401 otherwise, which makes
  google-auth refresh it).
- The business's side: `business_add_event` / `business_delete_event` change the calendar as the
  business would in Google Calendar, and notify every watching channel like Google's push does.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import requests

CLIENT_ID, CLIENT_SECRET = "soniq-test.apps.googleusercontent.com", "test-client-secret"


def _parse(moment: str) -> dt.datetime:
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))


class GoogleFake:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: dict[str, bool] = {}  # token -> still valid
        self.events: dict[str, dict[str, dict]] = {}  # calendar id -> event id -> event
        self.channels: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.refreshes = 0
        # Small pages by default so the client's paging is exercised; Google's own go up to 2500.
        self.page_size = 2
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def settings(self) -> dict[str, str]:
        return {"GOOGLE_OAUTH_CLIENT_ID": CLIENT_ID, "GOOGLE_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
                "GOOGLE_OAUTH_AUTH_URI": f"{self.url}/o/oauth2/auth", "GOOGLE_OAUTH_TOKEN_URI": f"{self.url}/token",
                "GOOGLE_OAUTH_REVOKE_URI": f"{self.url}/revoke", "GOOGLE_CALENDAR_API_ROOT": f"{self.url}/"}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.events.clear()
            self.channels.clear()
            self.requests.clear()
            self.refreshes = 0

    # --- the owner and the business, in Google's own apps ---

    def consent(self, authorization_url: str) -> str:
        """The owner allows access: the URL Google redirects the browser to (redirect_uri?code&state)."""
        query = {key: values[0] for key, values in parse_qs(urlparse(authorization_url).query).items()}
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = query
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def revoke_everything(self) -> None:
        """The owner removes Soniq under their Google account's third-party access."""
        with self.lock:
            self.access_tokens.clear()
            for token in self.refresh_tokens:
                self.refresh_tokens[token] = False

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def live_events(self, calendar_id: str = "primary") -> dict[str, dict]:
        with self.lock:
            return {key: dict(event) for key, event in self.events.get(calendar_id, {}).items()
                    if event["status"] != "cancelled"}

    def business_add_event(self, *, start: dt.datetime, end: dt.datetime, summary: str, calendar_id: str = "primary",
                           transparency: str = "opaque") -> str:
        event_id = secrets.token_hex(8)
        with self.lock:
            self.events.setdefault(calendar_id, {})[event_id] = {
                "id": event_id, "status": "confirmed", "summary": summary, "transparency": transparency,
                "start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}}
        self.notify(calendar_id)
        return event_id

    def business_delete_event(self, event_id: str, calendar_id: str = "primary") -> None:
        with self.lock:
            self.events[calendar_id][event_id]["status"] = "cancelled"
        self.notify(calendar_id)

    def notify(self, calendar_id: str) -> list[int]:
        """What Google's push does on a change: POST to each channel watching the calendar. Returns
        the receivers' status codes."""
        with self.lock:
            channels = [channel for channel in self.channels.values() if channel["calendar"] == calendar_id]
        return [requests.post(channel["address"], timeout=5, headers={
                "X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": channel.get("token", ""),
                "X-Goog-Resource-ID": channel["resourceId"], "X-Goog-Resource-State": "exists",
                "X-Goog-Message-Number": "2"}).status_code for channel in channels]

    # --- the HTTP side ---

    def token_endpoint(self, form: dict[str, str], authorization: str = "") -> tuple[int, dict]:
        # Client credentials in the form, or as HTTP Basic (RFC 6749 2.3.1; requests-oauthlib's way).
        if authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            form = {**form, "client_id": client_id, "client_secret": client_secret}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                issued = self.codes.pop(form.get("code", ""), None)
                if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if issued.get("code_challenge") and challenge != issued["code_challenge"]:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
                refresh = secrets.token_urlsafe(24)
                self.refresh_tokens[refresh] = True
            elif form.get("grant_type") == "refresh_token":
                refresh = form.get("refresh_token", "")
                if not self.refresh_tokens.get(refresh):
                    return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                self.refreshes += 1
            else:
                return 400, {"error": "unsupported_grant_type"}
            access = secrets.token_urlsafe(24)
            self.access_tokens.add(access)
        body = {"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/calendar.events"}
        if form.get("grant_type") == "authorization_code":
            body["refresh_token"] = refresh
        return 200, body

    def revoke(self, token: str) -> int:
        with self.lock:
            if token in self.refresh_tokens:
                self.refresh_tokens[token] = False
                return 200
            if token in self.access_tokens:
                self.access_tokens.discard(token)
                return 200
        return 400

    def calendar_api(self, method: str, path: str, query: dict[str, str], body: dict) -> tuple[int, dict | None]:
        if path == "/calendar/v3/freeBusy" and method == "POST":
            since, until = _parse(body["timeMin"]), _parse(body["timeMax"])
            answer = {}
            for item in body["items"]:
                busy = [{"start": event["start"]["dateTime"], "end": event["end"]["dateTime"]}
                        for event in self.live_events(item["id"]).values() if event.get("transparency") != "transparent"
                        and _parse(event["start"]["dateTime"]) < until and _parse(event["end"]["dateTime"]) > since]
                answer[item["id"]] = {"busy": sorted(busy, key=lambda span: span["start"])}
            return 200, {"kind": "calendar#freeBusy", "calendars": answer}
        if path == "/calendar/v3/channels/stop" and method == "POST":
            with self.lock:
                self.channels.pop(body["id"], None)
            return 204, None
        match = re.fullmatch(r"/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?", path)
        if not match:
            return 404, {"error": {"code": 404, "message": "Not Found"}}
        calendar_id, event_id = match.group(1).replace("%40", "@"), match.group(2)
        with self.lock:
            events = self.events.setdefault(calendar_id, {})
            if event_id == "watch" and method == "POST":
                resource = f"resource-{calendar_id}"
                self.channels[body["id"]] = {**body, "calendar": calendar_id, "resourceId": resource}
                expires = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).timestamp() * 1000)
                return 200, {"kind": "api#channel", "id": body["id"], "resourceId": resource,
                             "resourceUri": f"{self.url}{path}", "expiration": str(expires)}
            if event_id is None and method == "GET":
                since, until = _parse(query["timeMin"]), _parse(query["timeMax"])
                items = sorted((event for event in events.values() if event["status"] != "cancelled"
                                and _parse(event["start"]["dateTime"]) < until and _parse(event["end"]["dateTime"]) > since),
                               key=lambda event: event["start"]["dateTime"])
                offset, size = int(query.get("pageToken") or 0), self.page_size
                page = {"kind": "calendar#events", "items": items[offset:offset + size]}
                if offset + size < len(items):
                    page["nextPageToken"] = str(offset + size)
                return 200, page
            if event_id is None and method == "POST":
                if body.get("id") in events:
                    return 409, {"error": {"code": 409, "message": "The requested identifier already exists."}}
                event = {"status": "confirmed", **body, "id": body.get("id") or secrets.token_hex(8)}
                events[event["id"]] = event
                return 200, event
            event = events.get(event_id)
            if method == "PATCH":
                if event is None:
                    return 404, {"error": {"code": 404, "message": "Not Found"}}
                event.update(body)
                return 200, event
            if method == "DELETE":
                if event is None:
                    return 404, {"error": {"code": 404, "message": "Not Found"}}
                if event["status"] == "cancelled":
                    return 410, {"error": {"code": 410, "message": "Resource has been deleted"}}
                event["status"] = "cancelled"
                return 204, None
            if method == "GET" and event is not None:
                return 200, event
        return 404, {"error": {"code": 404, "message": "Not Found"}}


def _handler(fake: GoogleFake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass

        def _send(self, status: int, body: dict | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with fake.lock:
                fake.requests.append((method, url.path))
            if url.path == "/token":
                status, body = fake.token_endpoint({key: values[0] for key, values in parse_qs(raw.decode()).items()},
                                                   self.headers.get("Authorization") or "")
                return self._send(status, body)
            if url.path == "/revoke":
                form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                return self._send(fake.revoke(form.get("token") or query.get("token", "")), {})
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with fake.lock:
                authorised = token in fake.access_tokens
            if not authorised:
                return self._send(401, {"error": {"code": 401, "message": "Invalid Credentials"}})
            body = json.loads(raw) if raw else {}
            status, answer = fake.calendar_api(method, url.path, query, body)
            self._send(status, answer)

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_PATCH(self):  # noqa: N802
            self._handle("PATCH")

        def do_DELETE(self):  # noqa: N802
            self._handle("DELETE")

    return Handler
