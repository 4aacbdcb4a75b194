"""One attempt at one webhook delivery: what the Celery task `webhooks.webhook_deliver` runs (see
webhooks/services.py for the whole flow).

One tenant must not stall the others (issue 29, item 1):
- WEBHOOK_TIMEOUT_SECONDS bounds the whole attempt (connect, TLS, send, read), not each socket read:
  a receiver that drips a byte a second is cut off at the deadline.
- No transaction or row lock is held during the POST: the attempt is claimed in one short
  transaction (counted, and its next attempt pushed past the deadline so no other task takes it),
  the POST is made, and the outcome is written in another, only if nobody ("Send again") reset the
  row meanwhile.
- At most WEBHOOK_TENANT_CONCURRENCY attempts of one tenant run at once (a Redis lease per attempt);
  a task that finds its tenant's share full goes back to the queue for
  WEBHOOK_TENANT_BUSY_RETRY_SECONDS without attempting (webhooks/tasks.py).

Safety: the endpoint's URL is checked at every attempt as at save (webhooks/addresses.py: https only,
no `user:password@`, every IANA special-purpose block refused); the host is resolved at every attempt
and the request goes to the address that was checked (a DNS answer cannot change between the check
and the connection), unless WEBHOOK_ALLOW_PRIVATE is set. The address a name resolved to is never
written where the owner reads (`last_error`): that would make the endpoint a probe of internal DNS.
Redirects are not followed; at most RESPONSE_MAX_BYTES of the answer is read, and what is kept of it
is cleaned (no NUL or other control characters).
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from standardwebhooks.webhooks import Webhook

from core import clock
from core.clean import text_clean
from webhooks.addresses import EndpointRefused, address_is_public, endpoint_url_check
from webhooks.models import WebhookDelivery

logger = logging.getLogger("webhooks")

RESPONSE_MAX_BYTES = 4096
USER_AGENT = "Soniq-Webhooks/1"


class WebhookTransientError(Exception):
    """The attempt failed; a later one may succeed."""


class UnsafeEndpoint(EndpointRefused):
    """The endpoint is not one Soniq may send to (plain http, a private address)."""


class WebhookTenantBusy(Exception):
    """The tenant already has WEBHOOK_TENANT_CONCURRENCY attempts under way: try later."""


def _json(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


def response_text_clean(raw: bytes) -> str:
    """What is kept of a receiver's answer: UTF-8 (undecodable bytes replaced), no control characters
    (a NUL made the row unsavable and the delivery was re-POSTed forever), bounded."""
    return text_clean(raw[:RESPONSE_MAX_BYTES].decode("utf-8", "replace"))


def _signed_headers(*, delivery: WebhookDelivery, body: str, now: dt.datetime) -> dict[str, str]:
    signer = Webhook(delivery.endpoint.secret)
    # standardwebhooks' sign() *replaces* the tzinfo with UTC: it must be given a UTC time.
    signature = signer.sign(msg_id=delivery.message_id, timestamp=now.astimezone(dt.UTC), data=body)
    return {
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        # An answer we do not have to decompress: a gzip body is bytes, not text.
        "accept-encoding": "identity",
    }


def endpoint_target(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path, the IP address to connect to) for `url`, or UnsafeEndpoint."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    try:
        scheme, host, port, path = endpoint_url_check(url, allow_private=allow_private)
    except EndpointRefused as exc:
        raise UnsafeEndpoint(str(exc)) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTransientError(f"Could not resolve {host}: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    if not allow_private and not all(address_is_public(address) for address in addresses):
        # Every address must be public: otherwise the connection could land on a private one. Which
        # address it was is not said: the owner would learn what our DNS answers for internal names.
        raise UnsafeEndpoint(f"{host} does not resolve to public internet addresses only.")
    return scheme, host, port, path, addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the address that was checked, with SNI and certificate verification for the host name."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_hostname)


def _post(*, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST within WEBHOOK_TIMEOUT_SECONDS in all: a timer shuts the socket down at the deadline, so a
    receiver that answers a byte at a time cannot hold the worker longer than that."""
    deadline_seconds = settings.WEBHOOK_TIMEOUT_SECONDS
    scheme, host, port, path, address = endpoint_target(url)
    if scheme == "https":
        conn = _PinnedHTTPSConnection(address, port, server_hostname=host, timeout=deadline_seconds)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=deadline_seconds)
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(deadline_seconds, cut_off)
    timer.daemon = True
    timer.start()
    host_header = host if port in (80, 443) else f"{host}:{port}"
    try:
        conn.request("POST", path, body=body, headers={**headers, "host": host_header,
                                                       "content-length": str(len(body)), "connection": "close"})
        response = conn.getresponse()
        raw = response.read(RESPONSE_MAX_BYTES)
        if expired.is_set():
            raise TimeoutError
        return response.status, response_text_clean(raw)
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise WebhookTransientError(f"The endpoint did not answer within {deadline_seconds} seconds.") from exc
        # The exception's text may name the address connected to; its class and errno say enough.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise WebhookTransientError(f"Could not deliver to {host}: {reason}.") from exc
    finally:
        timer.cancel()
        conn.close()


# --- the per-tenant share of the workers -------------------------------------------------------

# KEYS[1] the tenant's lease set; ARGV: now, lease expiry, limit, lease id. Expired leases (a worker
# killed mid-attempt) are dropped first, so a crash cannot shrink the tenant's share for good.
_LEASE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""
_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


@contextmanager
def _tenant_share():
    """One of the tenant's WEBHOOK_TENANT_CONCURRENCY attempt slots, or WebhookTenantBusy. Redis being
    unreachable does not stop deliveries: the attempt goes ahead unbounded (and says so in the log)."""
    key = f"webhooks:attempts:{connection.schema_name}"
    lease = uuid.uuid4().hex
    now = time.time()
    try:
        granted = _redis().eval(_LEASE_SCRIPT, 1, key, now, now + settings.WEBHOOK_TIMEOUT_SECONDS + 30,
                                settings.WEBHOOK_TENANT_CONCURRENCY, lease)
    except Exception as exc:  # redis-py's errors; the bound is a fairness measure, not a correctness one
        logger.warning("webhook attempt slots unavailable (%s); attempting without the tenant bound", exc)
        granted, lease = 1, None
    if not granted:
        raise WebhookTenantBusy()
    try:
        yield
    finally:
        if lease is not None:
            try:
                _redis().zrem(key, lease)
            except Exception as exc:  # redis-py's errors: the lease expires by itself (its score is a deadline)
                logger.info("could not release a webhook attempt slot (%s); it lapses at its deadline", exc)


# --- one attempt -------------------------------------------------------------------------------

def _claim(*, delivery_id: int) -> WebhookDelivery | None:
    """Count the attempt and push the next one past this attempt's deadline, in one short
    transaction: no other task takes the row while this one POSTs, and nothing stays locked."""
    with transaction.atomic():
        # of=self: without it the endpoint row is locked too, and concurrent deliveries to the same
        # endpoint would skip each other's rows (and those attempts would never be made).
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("endpoint")
                    .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).first())
        now = clock.now()
        # A task that arrives early (Redis redelivers ETA tasks after its visibility timeout, another
        # task has the attempt under way) is not the one this attempt is waiting for.
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now + dt.timedelta(seconds=1)):
            return None
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.next_attempt_at = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
        delivery.save(update_fields=["attempts", "first_attempt_at", "next_attempt_at"])
    return delivery


def webhook_attempt(*, delivery_id: int) -> tuple[WebhookDelivery | None, float | None]:
    """Make one attempt at a pending delivery. Returns (the delivery, seconds until the next attempt
    or None when it is finished); (None, None) when there is nothing to do. Raises WebhookTenantBusy
    (nothing changed) when the tenant's share of attempts is taken."""
    with _tenant_share():
        delivery = _claim(delivery_id=delivery_id)
        if delivery is None:
            return None, None
        # The claim's own mark: "Send again" during the POST resets the row (and its new attempt
        # claims it afresh), which moves this off the row.
        lease = delivery.next_attempt_at
        now = clock.now()
        body = _json(delivery.payload)
        status_code, text, error = None, "", ""
        try:
            status_code, text = _post(url=delivery.endpoint.url, body=body.encode(),
                                      headers=_signed_headers(delivery=delivery, body=body, now=now))
            if not 200 <= status_code < 300:
                error = f"The endpoint answered HTTP {status_code}."
        except (WebhookTransientError, UnsafeEndpoint) as exc:
            error = str(exc)[:1000]
        except Exception as exc:  # a bug or a library surprise: recorded, and retried only within the schedule
            logger.exception("webhook %s (schema %s) attempt failed unexpectedly", delivery.message_id, connection.schema_name)
            error = f"Unexpected error: {exc.__class__.__name__}."
    fields = {"last_status_code": status_code, "last_response": text, "last_error": error}
    retry_in = None
    if status_code is not None and not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=clock.now(), next_attempt_at=None)
    else:
        schedule = settings.WEBHOOK_RETRY_SCHEDULE
        if delivery.attempts <= len(schedule):
            retry_in = schedule[delivery.attempts - 1]
            fields["next_attempt_at"] = now + dt.timedelta(seconds=retry_in)
        else:
            fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    # Only if the row is still this attempt's: "Send again" during the POST reset it, and its own
    # attempt now owns the row.
    written = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING,
                                             attempts=delivery.attempts, next_attempt_at=lease).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    if not written:
        return delivery, None
    if delivery.status == WebhookDelivery.Status.FAILED:
        logger.error("webhook %s to %s (schema %s) failed for good after %d attempts: %s", delivery.message_id,
                     delivery.endpoint.url, connection.schema_name, delivery.attempts, delivery.last_error)
    return delivery, retry_in
