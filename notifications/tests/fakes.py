"""Local servers that speak the real protocols the follow-ups use, for tests and bench/followups.py:

- `FakeSMTP`: a real SMTP server (aiosmtpd) on loopback that keeps every message it accepts, with
  the moment it arrived; `refuse_next(n)` answers the next n messages with 451 (try again later).
- `FakeLLM`: an OpenAI-compatible, non-streaming `POST /v1/chat/completions` (what the summary
  task calls); `reply` is the message content it answers with, `delay` makes it slow.
- `WebhookReceiver`: an HTTP endpoint that records each POST (headers, body, when) and answers
  `status` (settable; `down()` closes the port, `up()` reopens it on the same one).
"""
from __future__ import annotations

import email
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMail:
    to: list[str]
    message: Message
    arrived: float

    @property
    def subject(self) -> str:
        return self.message["Subject"] or ""

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else str(self.message.get_payload())


class _MailHandler:
    def __init__(self, fake: FakeSMTP):
        self.fake = fake

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.fake.lock:
            if self.fake.refusals > 0:
                self.fake.refusals -= 1
                return "451 4.3.0 Try again later"
            self.fake.messages.append(ReceivedMail(to=list(envelope.rcpt_tos), message=email.message_from_bytes(envelope.content),
                                                   arrived=time.time()))
        return "250 OK"


class FakeSMTP:
    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.refusals = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def settings(self) -> dict[str, str]:
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "0",
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}

    def refuse_next(self, count: int) -> None:
        with self.lock:
            self.refusals = count

    def to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [mail for mail in self.messages if address in mail.to]

    def stop(self) -> None:
        self.controller.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeLLM:
    def __init__(self) -> None:
        self.reply = json.dumps({"summary": "Jane asked to move her haircut to Friday; the agent took a message.",
                                 "intent": "reschedule", "follow_up_needed": True})
        self.delay = 0.0
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.requests.append({"path": self.path, "body": body, "authorization": self.headers.get("Authorization")})
                if fake.delay:
                    time.sleep(fake.delay)
                answer = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": fake.reply}}],
                                     "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (the timeout test)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def settings(self) -> dict[str, str]:
        return {"OPENAI_API_KEY": "sk-test-local", "OPENAI_BASE_URL": self.url}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    arrived: float
    answered: int

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    status: int = 200
    path: str = "/hooks/soniq"
    requests: list[ReceivedWebhook] = field(default_factory=list)
    # What it answers with: a poison body (a NUL, gzip bytes) and headers (Content-Encoding: gzip).
    body: bytes = b"ok"
    answer_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.httpd = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status
                receiver.requests.append(ReceivedWebhook(headers={k.lower(): v for k, v in self.headers.items()}, body=body,
                                                         arrived=time.time(), answered=status))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                for name, value in receiver.answer_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

        self.httpd = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def of_type(self, event_type: str) -> list[ReceivedWebhook]:
        return [request for request in list(self.requests) if request.payload.get("type") == event_type]

    def stop(self) -> None:
        self.down()


@dataclass
class DripConnection:
    opened: float
    closed: float | None = None
    body: bytes = b""


class DripReceiver:
    """A receiver that reads the request, sends `HTTP/1.1 200 OK\\r\\n` and then one header byte every
    `interval` seconds, for as long as the client stays (or until `stop()`): the slow-loris answer that
    held a worker for as long as it liked when only each socket read was bounded (issue 29, item 1).
    `connections` records when each was opened and when the client went away."""

    def __init__(self, *, interval: float = 0.3) -> None:
        self.interval = interval
        self.connections: list[DripConnection] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/slow"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(client,), daemon=True).start()

    def _drip(self, client: socket.socket) -> None:
        connection = DripConnection(opened=time.time())
        with self.lock:
            self.connections.append(connection)
        try:
            client.settimeout(self.interval)
            try:
                connection.body = client.recv(65536)
            except TimeoutError:
                pass
            client.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self.stopping.is_set():
                try:
                    if client.recv(1) == b"":  # the client closed its end
                        break
                except TimeoutError:
                    pass
                client.sendall(b"X")
        except OSError:
            pass
        finally:
            connection.closed = time.time()
            client.close()

    def open_connections(self) -> list[DripConnection]:
        with self.lock:
            return [connection for connection in self.connections if connection.closed is None]

    def stop(self) -> None:
        self.stopping.set()
        self.server.close()
