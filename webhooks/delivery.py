"""One attempt at one webhook delivery: what the Celery task `webhooks.webhook_deliver` runs (see
webhooks/services.py for the whole flow). The endpoint's host is resolved at every attempt and the
request goes to the address that was checked (so a DNS answer cannot change between the check and the
connection); loopback, private, link-local and other non-public addresses are refused, as is plain
http, unless WEBHOOK_ALLOW_PRIVATE is set. Redirects are not followed; at most RESPONSE_MAX_BYTES of
the answer is read."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db import connection, transaction
from standardwebhooks.webhooks import Webhook

from core import clock
from webhooks.models import WebhookDelivery

logger = logging.getLogger("webhooks")

RESPONSE_MAX_BYTES = 4096
USER_AGENT = "Soniq-Webhooks/1"


class WebhookTransientError(Exception):
    """The attempt failed; a later one may succeed."""


class UnsafeEndpoint(Exception):
    """The endpoint is not one Soniq may send to (plain http, a private address)."""


def _json(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


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
    }


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def endpoint_target(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path, the IP address to connect to) for `url`, or UnsafeEndpoint."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if parts.scheme not in ({"https", "http"} if allow_private else {"https"}):
        raise UnsafeEndpoint("The endpoint must be an https:// URL.")
    if not parts.hostname:
        raise UnsafeEndpoint("The endpoint URL has no host.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookTransientError(f"Could not resolve {parts.hostname}: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        refused = [address for address in addresses if not _address_allowed(address)]
        if refused:
            # Every address must be public: otherwise the connection could land on a private one.
            raise UnsafeEndpoint(f"{parts.hostname} resolves to a non-public address ({refused[0]}).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path, addresses[0]


def _post(*, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    scheme, host, port, path, address = endpoint_target(url)
    timeout = urllib3.Timeout(total=settings.WEBHOOK_TIMEOUT_SECONDS)
    if scheme == "https":
        # Connect to the checked address, but verify the certificate (and send SNI) for the host.
        pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED", timeout=timeout, retries=False, maxsize=1)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    host_header = host if port in (80, 443) else f"{host}:{port}"
    try:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "host": host_header},
                                redirect=False, retries=False, preload_content=False)
        try:
            text = response.read(RESPONSE_MAX_BYTES).decode("utf-8", "replace")
        finally:
            response.release_conn()
        return response.status, text
    except urllib3.exceptions.HTTPError as exc:
        raise WebhookTransientError(f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        pool.close()


def webhook_attempt(*, delivery_id: int) -> tuple[WebhookDelivery | None, float | None]:
    """Make one attempt at a pending delivery. Returns (the delivery, seconds until the next attempt
    or None when it is finished). The row is locked during the attempt, so a task that runs twice
    (acks_late after a crash, the requeue sweep) does not POST twice at once, and a delivered row is
    never sent again."""
    with transaction.atomic():
        # of=self: without it the endpoint row is locked too, and concurrent deliveries to the same
        # endpoint would skip each other's rows (and those attempts would never be made).
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("endpoint")
                    .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).first())
        now = clock.now()
        # A task that arrives early (Redis redelivers ETA tasks after its visibility timeout) is not
        # the one this attempt is waiting for.
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now + dt.timedelta(seconds=1)):
            return None, None
        body = _json(delivery.payload)
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.last_status_code, delivery.last_response, delivery.last_error = None, "", ""
        try:
            status_code, text = _post(url=delivery.endpoint.url, body=body.encode(),
                                      headers=_signed_headers(delivery=delivery, body=body, now=now))
            delivery.last_status_code, delivery.last_response = status_code, text
            if 200 <= status_code < 300:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.DELIVERED, clock.now(), None
            else:
                delivery.last_error = f"The endpoint answered HTTP {status_code}."
        except (WebhookTransientError, UnsafeEndpoint) as exc:
            delivery.last_error = str(exc)[:1000]
        retry_in = None
        if delivery.status == WebhookDelivery.Status.PENDING:
            schedule = settings.WEBHOOK_RETRY_SCHEDULE
            if delivery.attempts <= len(schedule):
                retry_in = schedule[delivery.attempts - 1]
                delivery.next_attempt_at = now + dt.timedelta(seconds=retry_in)
            else:
                delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
                logger.error("webhook %s to %s (schema %s) failed for good after %d attempts: %s", delivery.message_id,
                             delivery.endpoint.url, connection.schema_name, delivery.attempts, delivery.last_error)
        delivery.save()
    return delivery, retry_in
