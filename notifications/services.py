"""Emails and staff SMS to the business when a follow-up needs a person: a callback request, a
message left for the owner, a failed transfer, a booking a caller cancelled or moved; and the
daily digest.

    notification_event_record (in the domain's transaction, via notifications.events)
        -> one `Notification` row per recipient and channel (unique per event, channel, recipient)
        -> after commit: Celery task `notifications.notification_send` -> notifications.delivery.notification_deliver
             email: Django's SMTP backend (EMAIL_* settings)
             SMS:   SignalWire, through the same settings and URL as calls/sms.py; in the tenant's
                    quiet hours the row waits (`not_before`) until they end
             transient failure -> retried NOTIFICATION_MAX_RETRIES times, then `failed` (shown in the
                                  admin, logged at ERROR for the operator)
"""
from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction

from core import clock
from core.clean import line_clean, text_clean
from notifications.models import Notification, NotificationSettings
from notifications.tasks import notification_send

logger = logging.getLogger("notifications")

SMS_MAX = 480
BODY_MAX = 20_000


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
    now = clock.now()
    for notification in notifications:
        countdown = max((notification.not_before - now).total_seconds(), 0) if notification.not_before else 0
        try:
            notification_send.apply_async(args=[notification.pk], countdown=countdown)
        except Exception as exc:  # broker down: the row stays pending and the requeue sweep sends it
            logger.warning("notification %s (schema %s) not queued: %s", notification.pk, connection.schema_name, exc)


def notifications_requeue(*, older_than: dt.timedelta = dt.timedelta(minutes=5)) -> int:
    """Queue again pending notifications whose task was lost (broker down at commit, worker
    killed): pending for longer than `older_than` past when they were due."""
    cutoff = clock.now() - older_than
    due = [notification for notification in Notification.objects.filter(status=Notification.Status.PENDING, created__lt=cutoff)[:1000]
           if notification.not_before is None or notification.not_before < cutoff]
    notifications_enqueue(notifications=due)
    return len(due)
