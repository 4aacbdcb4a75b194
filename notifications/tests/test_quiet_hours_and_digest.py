"""Staff SMS wait out the business's quiet hours; the morning digest goes out once a day."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from django_tenants.utils import schema_context

from backoffice.digest import digest_send_if_due
from notifications.services import notification_event_record, quiet_hours_end_after
from notifications.tests.helpers import notifications_in, recipients_set, wait_until

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def test_quiet_hours_over_midnight_end_the_next_morning():
    assert quiet_hours_end_after(moment=local(2026, 3, 9, 23, 30), start=dt.time(22), end=dt.time(7), tz=NEW_YORK) == local(2026, 3, 10, 7)
    assert quiet_hours_end_after(moment=local(2026, 3, 10, 2, 0), start=dt.time(22), end=dt.time(7), tz=NEW_YORK) == local(2026, 3, 10, 7)
    assert quiet_hours_end_after(moment=local(2026, 3, 10, 12, 0), start=dt.time(22), end=dt.time(7), tz=NEW_YORK) is None


def test_quiet_hours_are_read_in_the_businesss_time_zone():
    # 03:30 UTC is 22:30 the evening before in New York: inside 22:00-07:00 there, not in UTC terms.
    moment = dt.datetime(2026, 3, 10, 3, 30, tzinfo=dt.UTC)
    assert quiet_hours_end_after(moment=moment, start=dt.time(22), end=dt.time(7), tz=NEW_YORK) == local(2026, 3, 10, 7)


def test_a_staff_sms_in_quiet_hours_waits_but_the_email_goes_now(db, salon):
    from django_tenants.utils import tenant_context

    from core import clock

    tz = salon.tzinfo
    now_local = clock.now().astimezone(tz)
    # Quiet hours that surely contain "now": from an hour ago until two hours ahead.
    start, end = (now_local - dt.timedelta(hours=1)).time(), (now_local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    with tenant_context(salon):
        from notifications.services import notification_settings_update

        notification_settings_update(emails=["owner@salon.example"], sms_numbers=["+15557770001"], events=["message_left"],
                                     quiet_hours=(start, end))
        email, sms = sorted(notification_event_record(event="message_left", event_key="note:1", subject="Message",
                                                      body="Call Mrs Patel"), key=lambda n: n.channel)
    assert email.not_before is None
    assert sms.not_before is not None and sms.not_before.astimezone(tz).time() == end


def test_the_digest_goes_out_once_with_yesterdays_figures(committed_db, celery_worker_process, smtp_server, settings):
    from calls.models import Call, CallbackRequest
    from core import clock

    settings.NOTIFICATION_DIGEST_HOUR = 0
    recipients_set("salon", emails=["digest@salon.example"])
    with schema_context("salon"):
        from tenants.selectors import current_tenant

        tz = current_tenant().tzinfo
        yesterday_noon = dt.datetime.combine(clock.now().astimezone(tz).date() - dt.timedelta(days=1), dt.time(12), tzinfo=tz)
        for outcome in ("booked", "booked", "callback"):
            Call.objects.create(called_number="+15550100001", caller_number="+15557654321", started_at=yesterday_noon,
                                status="ended", outcome=outcome)
        CallbackRequest.objects.create(caller_number="+15550009999", caller_name="Sam", reason="Gift vouchers")
        assert len(digest_send_if_due()) == 1
        assert digest_send_if_due() == []  # the beat runs every 15 minutes: still one digest
    mail = wait_until(lambda: smtp_server.to("digest@salon.example"), what="the digest")[0]
    assert mail.subject.startswith("Yesterday's calls: 3 calls")
    assert "Booked: 2" in mail.body and "Callback queued: 1" in mail.body
    assert "Callbacks still open: 1" in mail.body and "Sam +15550009999: Gift vouchers" in mail.body
    assert len(notifications_in("salon", event="digest")) == 1
