"""Emails and staff SMS to the business when a follow-up needs a person: a callback request, a
message left for the owner, a failed transfer, a booking a caller cancelled or moved; and the
daily digest.

    notification_event_record (in the domain's transaction, via notifications.events)
        -> one `Notification` row per recipient and channel (unique per event, channel, recipient)
        -> after commit: Celery task `notifications.notification_send` -> notification_deliver
             email: Django's SMTP backend (EMAIL_* settings)
             SMS:   SignalWire, through the same settings and URL as calls/sms.py; in the tenant's
                    quiet hours the row waits (`not_before`) until they end
             transient failure -> retried NOTIFICATION_MAX_RETRIES times, then `failed` (shown in the
                                  admin, logged at ERROR for the operator)
"""
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
from core.clean import line_clean, text_clean
from notifications.models import Notification, NotificationSettings

logger = logging.getLogger("notifications")

SMS_MAX = 480
BODY_MAX = 20_000


class NotificationTransientError(Exception):
    """The mail server or SignalWire could not take the message now."""


def notification_settings_get() -> NotificationSettings:
    notification_settings = NotificationSettings.objects.order_by("pk").first()
    if notification_settings is None:
        notification_settings, _ = NotificationSettings.objects.get_or_create(pk=1)
    return notification_settings


def notification_settings_update(*, emails: list[str], sms_numbers: list[str], events: list[str],
                                 quiet_hours: tuple[dt.time, dt.time] | None = None) -> NotificationSettings:
    """Provisioning's write (tenants/services.py): replaces the recipients and events."""
    notification_settings = notification_settings_get()
    notification_settings.emails, notification_settings.sms_numbers, notification_settings.events = emails, sms_numbers, events
    notification_settings.quiet_hours_start, notification_settings.quiet_hours_end = quiet_hours or (None, None)
    notification_settings.save()
    return notification_settings


def _tenant_tz():
    from tenants.selectors import tenant_timezone

    return tenant_timezone()


def quiet_hours_end_after(*, moment: dt.datetime, start: dt.time | None, end: dt.time | None, tz) -> dt.datetime | None:
    """When the quiet hours that `moment` falls in end (tenant-local), or None outside them.
    `start` after `end` (22:00-07:00) spans midnight."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(tz)
    now_time = local.time()
    inside = (start <= now_time < end) if start < end else (now_time >= start or now_time < end)
    if not inside:
        return None
    end_day = local.date() if now_time < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, tzinfo=tz)


def notification_event_record(*, event: str, event_key: str, subject: str, body: str,
                              sms_body: str | None = None, emails_only: bool = False) -> list[Notification]:
    """Record the messages for `event` to the tenant's recipients (if it wants the event) and queue
    them once the current transaction commits. `event_key` names the occurrence: recording it again
    adds nothing."""
    notification_settings = notification_settings_get()
    if not emails_only and not notification_settings.wants(event):
        return []
    now = clock.now()
    wanted = [(Notification.Channel.EMAIL, address) for address in notification_settings.emails]
    quiet_until = None
    if not emails_only:
        wanted += [(Notification.Channel.SMS, number) for number in notification_settings.sms_numbers]
        quiet_until = quiet_hours_end_after(moment=now, start=notification_settings.quiet_hours_start,
                                            end=notification_settings.quiet_hours_end, tz=_tenant_tz())
    # Cleaned here, where a caller's words enter the follow-ups: a subject is one line (a name with
    # `\v` or CR/LF broke the mail header, on every retry), nothing holds a NUL.
    subject, body = line_clean(subject, max_length=200), text_clean(body, max_length=BODY_MAX)
    sms_body = text_clean(sms_body or subject, max_length=SMS_MAX)
    created = []
    for channel, recipient in wanted:
        is_sms = channel == Notification.Channel.SMS
        notification, was_created = Notification.objects.get_or_create(
            event_key=event_key, channel=channel, recipient=recipient,
            defaults={"event": event, "subject": "" if is_sms else subject,
                      "body": sms_body if is_sms else body,
                      "not_before": quiet_until if is_sms else None},
        )
        if was_created:
            created.append(notification)
    if created:
        transaction.on_commit(lambda: notifications_enqueue(notifications=created), robust=True)
    return created


def notifications_enqueue(*, notifications: list[Notification]) -> None:
    from notifications.tasks import notification_send  # notifications.tasks imports this module

    now = clock.now()
    for notification in notifications:
        countdown = max((notification.not_before - now).total_seconds(), 0) if notification.not_before else 0
        try:
            notification_send.apply_async(args=[notification.pk], countdown=countdown)
        except Exception as exc:  # broker down: the row stays pending and the requeue sweep sends it
            logger.warning("notification %s (schema %s) not queued: %s", notification.pk, connection.schema_name, exc)


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
    from messaging.sms import _from_number, _provider_error, signalwire_messages_url, signalwire_missing_settings

    missing = signalwire_missing_settings()
    if missing:
        raise LookupError(f"SignalWire is not configured ({', '.join(missing)} not set).")
    from_number = _from_number()
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
        raise NotificationTransientError(f"SignalWire answered {response.status_code}: {_provider_error(response)}")
    raise ValueError(_provider_error(response))


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


def notifications_requeue(*, older_than: dt.timedelta = dt.timedelta(minutes=5)) -> int:
    """Queue again pending notifications whose task was lost (broker down at commit, worker
    killed): pending for longer than `older_than` past when they were due."""
    cutoff = clock.now() - older_than
    due = [notification for notification in Notification.objects.filter(status=Notification.Status.PENDING, created__lt=cutoff)[:1000]
           if notification.not_before is None or notification.not_before < cutoff]
    notifications_enqueue(notifications=due)
    return len(due)
