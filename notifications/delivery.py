"""Sending one owner notification: what the Celery task `notifications.notification_send` runs (see
notifications/services.py for the whole flow). Email through Django's SMTP backend (EMAIL_* settings);
staff SMS through SignalWire, with the same settings and sender as the customers' texts."""
from __future__ import annotations

import datetime as dt
import email.errors
import logging
import smtplib

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction

from core import clock
from core.clean import text_clean
from messaging.signalwire import provider_error, sender_number, signalwire_messages_url, signalwire_missing_settings
from notifications.models import Notification

logger = logging.getLogger("notifications")


class NotificationTransientError(Exception):
    """The mail server or SignalWire could not take the message now."""


def _send_email(notification: Notification) -> None:
    try:
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as mail:
            EmailMessage(subject=notification.subject, body=notification.body, to=[notification.recipient],
                         connection=mail).send()
    except smtplib.SMTPRecipientsRefused as exc:
        raise ValueError(f"The mail server refused the address: {exc.recipients}") from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise NotificationTransientError(f"{exc.__class__.__name__}: {exc}") from exc
    except (email.errors.MessageError, ValueError, UnicodeError, LookupError) as exc:
        # The message itself cannot be written (a header Django or the email package refuses):
        # sending it again cannot help.
        raise ValueError(f"The message could not be written: {exc.__class__.__name__}: {exc}") from exc


def _send_sms(notification: Notification) -> None:
    missing = signalwire_missing_settings()
    if missing:
        raise LookupError(f"SignalWire is not configured ({', '.join(missing)} not set).")
    from_number = sender_number()
    if not from_number:
        raise LookupError("The business has no phone number to send from.")
    try:
        response = requests.post(signalwire_messages_url(),
                                 data={"From": from_number, "To": notification.recipient, "Body": notification.body},
                                 auth=(settings.SIGNALWIRE_PROJECT_ID, settings.SIGNALWIRE_API_TOKEN),
                                 headers={"Accept": "application/json"}, timeout=10)
    except requests.RequestException as exc:
        raise NotificationTransientError(f"could not reach SignalWire: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code in (200, 201):
        return
    if response.status_code == 429 or response.status_code >= 500:
        raise NotificationTransientError(f"SignalWire answered {response.status_code}: {provider_error(response)}")
    raise ValueError(provider_error(response))


def notification_deliver(*, notification_id: int, last_attempt: bool = False) -> Notification | None:
    """Send one pending notification and record the outcome. The row is locked while sending and
    only a `pending` row is sent, so a task delivered twice never sends twice. Raises
    NotificationTransientError (row still pending, error noted) when a retry may help, unless
    `last_attempt`, when the row becomes `failed`."""
    transient = None
    with transaction.atomic():
        notification = (Notification.objects.select_for_update(skip_locked=True)
                        .filter(pk=notification_id, status=Notification.Status.PENDING).first())
        now = clock.now()
        if notification is None or (notification.not_before and notification.not_before > now + dt.timedelta(seconds=1)):
            return None
        notification.attempts += 1
        try:
            if notification.channel == Notification.Channel.EMAIL:
                _send_email(notification)
            else:
                _send_sms(notification)
            notification.status, notification.sent_at, notification.error = Notification.Status.SENT, clock.now(), ""
        except LookupError as exc:
            notification.status, notification.error = Notification.Status.SKIPPED, str(exc)
        except ValueError as exc:
            notification.status, notification.error = Notification.Status.FAILED, str(exc)[:1000]
        except NotificationTransientError as exc:
            notification.error = f"Attempt {notification.attempts}: {exc}"[:1000]
            if last_attempt:
                notification.status = Notification.Status.FAILED
                notification.error = f"Gave up after {notification.attempts} attempts. {notification.error}"[:1000]
            else:
                transient = exc
        except Exception as exc:  # anything else a library raises: recorded and final, never a retry loop
            logger.exception("notification %s (schema %s) could not be sent", notification.pk, connection.schema_name)
            notification.status = Notification.Status.FAILED
            notification.error = f"Could not be sent: {exc.__class__.__name__}: {exc}"
        # What a server or provider answered may quote anything: kept as clean text.
        notification.error = text_clean(notification.error, max_length=1000)
        # Saved (and committed) before a transient error is raised, so the attempt is counted.
        notification.save()
    if transient is not None:
        raise transient
    if notification.status == Notification.Status.FAILED:
        logger.error("notification %s (%s to %s, schema %s) failed for good: %s", notification.pk, notification.channel,
                     notification.recipient, connection.schema_name, notification.error)
    return notification
