"""A stand-in for SignalWire's LaML-compatible Messages endpoint, over real HTTP on a free port.

It answers the way SignalWire (and Twilio, whose API it copies) does: HTTP basic auth with the
project id and API token; a form-encoded POST to
`/api/laml/2010-04-01/Accounts/<project>/Messages.json` with `From`, `To` and `Body`; `201` with the
message resource (`sid`, `status: "queued"`, ...) or an error resource `{"code", "message",
"more_info", "status"}`. Tests script the next answers with `answer_next(400, 503, ...)`; after the
script runs out every request gets 201. Every request that reaches it is recorded.
"""
from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PROJECT_ID = "9d3c1f2e-5b6a-4c7d-8e9f-0a1b2c3d4e5f"
API_TOKEN = "PTfake0123456789abcdef"

ERRORS = {
    400: {"code": 21211, "message": "The 'To' number is not a valid phone number."},
    401: {"code": 20003, "message": "Authentication Error - invalid username"},
    404: {"code": 20404, "message": "The requested resource was not found."},
    429: {"code": 20429, "message": "Too Many Requests"},
    500: {"code": 20500, "message": "Internal Server Error"},
    503: {"code": 20503, "message": "Service Unavailable"},
}


@dataclass
class RecordedRequest:
    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, str]
    status: int
    sid: str = ""  # the message sid it answered with (201 only)


class FakeSignalWire:
    def __init__(self, *, project_id: str = PROJECT_ID, api_token: str = API_TOKEN) -> None:
        self.project_id = project_id
        self.api_token = api_token
        self.requests: list[RecordedRequest] = []
        self._script: list[int] = []
        # Set: the message of every error answer (a poison answer, e.g. with a NUL in it).
        self.error_message: str | None = None
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def messages_path(self) -> str:
        return f"/api/laml/2010-04-01/Accounts/{self.project_id}/Messages.json"

    def settings(self) -> dict[str, str]:
        """The SIGNALWIRE_* settings (or environment) that point Soniq at this server."""
        return {"SIGNALWIRE_SPACE_URL": self.url, "SIGNALWIRE_PROJECT_ID": self.project_id,
                "SIGNALWIRE_API_TOKEN": self.api_token}

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._script = list(statuses)

    def reset(self) -> None:
        with self._lock:
            self._script = []
            self.error_message = None
            self.requests.clear()

    def sent(self) -> list[RecordedRequest]:
        """The requests that were accepted (201)."""
        with self._lock:
            return [request for request in self.requests if request.status == 201]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _next_status(self) -> int:
        with self._lock:
            return self._script.pop(0) if self._script else 201

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - signature from the stdlib
                pass

            def _reply(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int) -> None:
                error = ERRORS.get(status, {"code": status, "message": f"HTTP {status}"})
                if fake.error_message is not None:  # a poison answer: whatever the test wants SignalWire to say
                    error = {**error, "message": fake.error_message}
                self._reply(status, {**error, "more_info": f"https://developer.signalwire.com/errors/{error['code']}",
                                     "status": status})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}
                auth = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    auth = (user, password)
                content_type = self.headers.get("Content-Type", "")

                if auth != (fake.project_id, fake.api_token):
                    status = 401
                elif self.path != fake.messages_path:
                    status = 404
                elif not content_type.startswith("application/x-www-form-urlencoded") or not all(
                        form.get(field) for field in ("From", "To", "Body")):
                    status = 400
                else:
                    status = fake._next_status()
                sid = str(uuid.uuid4()) if status == 201 else ""
                fake._record(RecordedRequest(path=self.path, auth=auth, content_type=content_type, form=form,
                                             status=status, sid=sid))
                if status != 201:
                    self._error(status)
                    return
                self._reply(201, {
                    "account_sid": fake.project_id, "api_version": "2010-04-01", "body": form["Body"],
                    "direction": "outbound-api", "error_code": None, "error_message": None,
                    "from": form["From"], "to": form["To"], "num_segments": 1, "num_media": 0,
                    "sid": sid, "status": "queued",
                })

        return Handler
