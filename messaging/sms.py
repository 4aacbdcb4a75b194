"""SMS to customers: the one path every text takes (booking and order confirmations, "your order
is ready", "your booking is cancelled", the day-before reminder: their texts are written by bookings
and orders), and its delivery through
SignalWire's LaML-compatible REST API (the Twilio-shaped `Messages.json` endpoint).

Every message is a row in the SMS log (`SmsMessage`) before anything is sent, so the business sees
what was sent, what failed and why, and what was skipped because SMS is not configured:

    sms_queue (called by bookings/sms.py and orders/sms.py with their own texts)
                            -> row `skipped` (no SignalWire settings / no number to send from)
                            -> row `queued`, then Celery task `calls.sms_send` -> sms_deliver
                                 2xx          -> `sent` with SignalWire's sid
                                 4xx          -> `failed` with SignalWire's message (retrying cannot help)
                                 5xx/429/net  -> retried with backoff by the task; `failed` after the last
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import requests
from django.conf import settings
from django.db import connection, transaction

from messaging.models import SmsMessage, SmsOptOut
from tenants.agent.selectors import agent_settings_get
from tenants.selectors import current_tenant

logger = logging.getLogger("messaging.sms")

SIGNALWIRE_TIMEOUT_SECONDS = 10
# SignalWire refuses bodies over 1600 characters; ours are far shorter, but an order of 50 lines
# with long names must still go out rather than fail.
BODY_MAX = 1600
# A Retry-After longer than this is not honoured as such; the normal backoff applies.
RETRY_AFTER_MAX_SECONDS = 300


class SmsTransientError(Exception):
    """SignalWire could not take the message now (5xx, 429, timeout, connection refused): a later
    attempt may succeed. `retry_after` is the provider's Retry-After in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# --- configuration -------------------------------------------------------------------------------

def signalwire_base_url() -> str:
    """SIGNALWIRE_SPACE_URL as a URL without a trailing slash: the dashboard shows the space as
    `example.signalwire.com`, docs write `https://example.signalwire.com`; both are accepted."""
    space = settings.SIGNALWIRE_SPACE_URL.strip().rstrip("/")
    if space and "://" not in space:
        space = f"https://{space}"
    return space


def signalwire_missing_settings() -> list[str]:
    names = ("SIGNALWIRE_SPACE_URL", "SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN")
    return [name for name in names if not str(getattr(settings, name, "") or "").strip()]


def signalwire_messages_url() -> str:
    return f"{signalwire_base_url()}/api/laml/2010-04-01/Accounts/{settings.SIGNALWIRE_PROJECT_ID}/Messages.json"


# --- message bodies ------------------------------------------------------------------------------
def _from_number() -> str:
    # The tenant's first number (the one it was provisioned with) is the one callers know.
    phone_number = current_tenant().phone_numbers.order_by("created", "pk").first()
    return phone_number.number if phone_number else ""


# --- queueing ------------------------------------------------------------------------------------

def sms_queue(*, kind: str, body: Callable[[str], str], booking=None, order=None) -> SmsMessage | None:
    """Record and queue one text to the customer of `booking` or `order` (exactly one), in the current
    tenant. `body(business name)` is the text: bookings and orders write their own (bookings/sms.py,
    orders/sms.py); `kind` is one of `SmsMessage.Kind`.

    Returns None, writing nothing, when the tenant has SMS texts off. Otherwise returns the
    `SmsMessage`: `skipped` (reason in `error`) when SignalWire is not configured or the tenant has
    no number to send from; else `queued`, with the `calls.sms_send` task sent once the row is
    committed. A broker that is down leaves the row `queued` with the error noted; nothing is raised,
    so a text can never fail the booking or order it is about.

    Call it from `transaction.on_commit` so no SMS goes out for a write that rolls back.
    """
    if (booking is None) == (order is None):
        raise TypeError("sms_queue() takes exactly one of booking= or order=.")
    agent_settings = agent_settings_get()
    if not agent_settings.sms_confirmations:
        return None
    business = agent_settings.business_name or current_tenant().name
    subject = booking if booking is not None else order
    sms = SmsMessage(kind=kind, to_number=subject.customer_phone, from_number=_from_number(), body=body(business)[:BODY_MAX],
                     booking=booking, order=order, call_id=subject.call_id)
    missing = signalwire_missing_settings()
    if SmsOptOut.objects.filter(number=sms.to_number, opted_out=True).exists():
        # The customer texted STOP: sending anyway breaks carrier rules (and their trust). Logged
        # as skipped, with why, like every text not sent.
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = "The customer texted STOP to this number: no texts until they text START."
        logger.info("SMS to %s not sent: opted out", sms.to_number)
    elif missing:
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = f"SignalWire is not configured ({', '.join(missing)} not set)."
    elif not sms.from_number:
        sms.status = SmsMessage.Status.SKIPPED
        sms.error = "The business has no phone number to send from."
    else:
        sms.status = SmsMessage.Status.QUEUED
    sms.save()
    if sms.status == SmsMessage.Status.QUEUED:
        # After commit: a worker that picks the task up at once must find the row. Outside a
        # transaction this runs immediately.
        transaction.on_commit(lambda: _sms_enqueue(sms=sms))
    return sms


def _sms_enqueue(*, sms: SmsMessage) -> None:
    from messaging.tasks import sms_send  # messaging.tasks imports this module

    try:
        sms_send.delay(sms.pk)
    except Exception as exc:  # the broker is down or unreachable; the row says so and stays queued
        logger.warning("SMS %s (schema %s) could not be queued: %s", sms.pk, connection.schema_name, exc)
        sms.error = f"Could not hand the message to the task queue: {exc.__class__.__name__}: {exc}"[:1000]
        SmsMessage.objects.filter(pk=sms.pk).update(error=sms.error)


# --- delivery (run by the calls.sms_send task) ---------------------------------------------------

def _provider_error(response: requests.Response) -> str:
    """SignalWire's own explanation, e.g. `21211: The 'To' number is not a valid phone number.`"""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("error_message") or ""
        code = data.get("code") or data.get("error_code")
        errors = data.get("errors")
        if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = errors[0].get("detail") or errors[0].get("message") or ""
            code = code or errors[0].get("code")
        if message:
            return f"{code}: {message}" if code else str(message)
    text = " ".join(response.text.split())[:300]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds <= RETRY_AFTER_MAX_SECONDS else None


def sms_deliver(*, sms: SmsMessage) -> SmsMessage:
    """POST one queued message to SignalWire and record the answer on the row.

    Returns the row as `sent` (provider_id = SignalWire's sid) or `failed` (a 4xx: a bad number, a
    number not allowed to send; error = SignalWire's message). Raises `SmsTransientError` for a 5xx,
    a 429, a timeout or a refused connection, with the row left `queued` and the error noted; the
    caller (the task) decides whether to try again. A row that is no longer `queued` is returned as
    is: a task delivered twice (acks_late after a worker crash) must not text the customer twice.
    """
    if sms.status != SmsMessage.Status.QUEUED:
        return sms
    missing = signalwire_missing_settings()
    if missing:
        # Configuration changed between queueing and sending: nothing can be sent from here.
        return _sms_finish(sms=sms, status=SmsMessage.Status.SKIPPED,
                           error=f"SignalWire is not configured ({', '.join(missing)} not set).")
    sms.attempts += 1
    SmsMessage.objects.filter(pk=sms.pk).update(attempts=sms.attempts)
    try:
        response = requests.post(
            signalwire_messages_url(),
            data={"From": sms.from_number, "To": sms.to_number, "Body": sms.body},
            auth=(settings.SIGNALWIRE_PROJECT_ID, settings.SIGNALWIRE_API_TOKEN),
            headers={"Accept": "application/json"},
            timeout=SIGNALWIRE_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        error = f"Attempt {sms.attempts}: could not reach SignalWire: {exc.__class__.__name__}: {exc}"[:1000]
        SmsMessage.objects.filter(pk=sms.pk).update(error=error)
        sms.error = error
        raise SmsTransientError(error) from exc

    if response.status_code in (200, 201):
        try:
            data = response.json()
        except ValueError:
            data = {}
        sid = str(data.get("sid") or "")[:64] if isinstance(data, dict) else ""
        return _sms_finish(sms=sms, status=SmsMessage.Status.SENT, error="", provider_id=sid)
    if response.status_code == 429 or response.status_code >= 500:
        error = f"Attempt {sms.attempts}: SignalWire answered {response.status_code}: {_provider_error(response)}"[:1000]
        SmsMessage.objects.filter(pk=sms.pk).update(error=error)
        sms.error = error
        raise SmsTransientError(error, retry_after=_retry_after(response))
    return _sms_finish(sms=sms, status=SmsMessage.Status.FAILED, error=_provider_error(response)[:1000])


def sms_delivery_give_up(*, sms: SmsMessage, error: str) -> SmsMessage:
    """The task's last attempt failed transiently: the message will not be sent."""
    if sms.status != SmsMessage.Status.QUEUED:
        return sms
    return _sms_finish(sms=sms, status=SmsMessage.Status.FAILED, error=f"Gave up after {sms.attempts} attempts. {error}"[:1000])


def _sms_finish(*, sms: SmsMessage, status: str, error: str, provider_id: str = "") -> SmsMessage:
    sms.status, sms.error = status, error
    fields = ["status", "error", "updated"]
    if provider_id:
        sms.provider_id = provider_id
        fields.append("provider_id")
    sms.save(update_fields=fields)
    return sms
