"""The SignalWire client every text goes through: its settings, the business's sending number, and
one attempt at sending one queued customer text (what the Celery task `calls.sms_send` runs) through
SignalWire's LaML-compatible REST API (the Twilio-shaped `Messages.json` endpoint)."""
from __future__ import annotations

import logging

import requests
from django.conf import settings

from core.clean import text_clean
from messaging.models import SmsMessage
from tenants.selectors import current_tenant

logger = logging.getLogger("messaging.sms")

SIGNALWIRE_TIMEOUT_SECONDS = 10
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


def sender_number() -> str:
    # The tenant's first number (the one it was provisioned with) is the one callers know.
    phone_number = current_tenant().phone_numbers.order_by("created", "pk").first()
    return phone_number.number if phone_number else ""


def provider_error(response: requests.Response) -> str:
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
    except (ValueError, UnicodeError, TypeError) as exc:
        # requests could not even build the request from the row (nothing to retry): final.
        return _sms_finish(sms=sms, status=SmsMessage.Status.FAILED,
                           error=f"The message could not be sent: {exc.__class__.__name__}: {exc}")
    except requests.RequestException as exc:
        error = text_clean(f"Attempt {sms.attempts}: could not reach SignalWire: {exc.__class__.__name__}: {exc}", max_length=1000)
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
        error = text_clean(f"Attempt {sms.attempts}: SignalWire answered {response.status_code}: {provider_error(response)}",
                           max_length=1000)
        SmsMessage.objects.filter(pk=sms.pk).update(error=error)
        sms.error = error
        raise SmsTransientError(error, retry_after=_retry_after(response))
    return _sms_finish(sms=sms, status=SmsMessage.Status.FAILED, error=provider_error(response)[:1000])


def sms_delivery_give_up(*, sms: SmsMessage, error: str) -> SmsMessage:
    """The task's last attempt failed transiently: the message will not be sent."""
    if sms.status != SmsMessage.Status.QUEUED:
        return sms
    return _sms_finish(sms=sms, status=SmsMessage.Status.FAILED, error=f"Gave up after {sms.attempts} attempts. {error}"[:1000])


def _sms_finish(*, sms: SmsMessage, status: str, error: str, provider_id: str = "") -> SmsMessage:
    # SignalWire's answer may quote anything (a NUL made the row unsavable and the task fail on every
    # delivery): what is stored is clean text.
    sms.status, sms.error = status, text_clean(error, max_length=1000)
    provider_id = text_clean(provider_id, max_length=64)
    fields = ["status", "error", "updated"]
    if provider_id:
        sms.provider_id = provider_id
        fields.append("provider_id")
    sms.save(update_fields=fields)
    return sms
