"""Owner notifications end to end: the voice API over HTTP, a real Celery worker, a real SMTP server
(aiosmtpd) on loopback and the SignalWire fake for staff SMS."""
from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django_tenants.utils import schema_context

from notifications import events
from notifications.models import Notification
from notifications.tests.helpers import notifications_in, recipients_set, wait_until
from voiceapi.tests.voice_api import started_call, tool

STAFF_MOBILE = "+15557770001"


def a_mailbox() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}@salon.example"


def test_it_emails_and_texts_the_owner_a_new_callback_request(committed_db, api_server, celery_worker_process,
                                                              smtp_server, signalwire_fake):
    owner = a_mailbox()
    recipients_set("salon", emails=[owner], sms=[STAFF_MOBILE])
    call = started_call(api_server)
    response = tool(api_server, call["call_token"], "transfer_to_human",
                    {"reason": "Wants to discuss a colour that went wrong", "transfer_failed": True, "caller_name": "Jane"})
    assert response.status_code == 200, response.text

    mail = wait_until(lambda: smtp_server.to(owner), what="the email")[0]
    assert "Jane" in mail.subject and "+15557654321" in mail.subject
    assert "Wants to discuss a colour that went wrong" in mail.body
    assert "transfer failed" in mail.body  # the owner learns the transfer did not go through
    assert "We promised: a call back" in mail.body
    texts = wait_until(lambda: [r for r in signalwire_fake.requests if r.form.get("To") == STAFF_MOBILE], what="the staff SMS")
    assert "Jane" in texts[0].form["Body"]
    # The row is marked sent once the send returns (a moment after the message arrives).
    sent = wait_until(lambda: len(notifications_in("salon", status=Notification.Status.SENT)) == 2 and
                      notifications_in("salon", status=Notification.Status.SENT), what="both rows sent")
    assert {n.channel for n in sent} == {"email", "sms"} and sent[0].event == "transfer_failed"


def test_it_emails_the_message_a_caller_left(committed_db, api_server, celery_worker_process, smtp_server):
    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    call = started_call(api_server)
    assert tool(api_server, call["call_token"], "log_note", {"note": "Please ring Mrs Patel about her voucher"}).status_code == 200

    mail = wait_until(lambda: smtp_server.to(owner), what="the email")[0]
    assert "Message from +15557654321" == mail.subject
    assert "Please ring Mrs Patel about her voucher" in mail.body


def test_it_sends_one_email_for_an_event_emitted_twice(committed_db, celery_worker_process, smtp_server):
    from calls.services import callback_request_create

    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    with schema_context("salon"):
        callback = callback_request_create(call=None, caller_number="+15550009999", reason="Price of highlights")
        events.callback_requested(callback_request=callback)
        events.callback_requested(callback_request=callback)  # a retried request, a second emitter
        notification = Notification.objects.get()
        from notifications.tasks import notification_send

        notification_send.delay(notification.pk)  # and a task delivered twice

    wait_until(lambda: notifications_in("salon", status="sent"), what="the email to be sent")
    wait_until(lambda: "notifications.notification_send" in celery_worker_process.log(), what="the tasks")
    assert len(smtp_server.to(owner)) == 1
    assert len(notifications_in("salon")) == 1


def test_it_sends_nothing_for_a_write_that_rolls_back(committed_db, celery_worker_process, smtp_server):
    from calls.services import callback_request_create

    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    with schema_context("salon"):
        try:
            with transaction.atomic():
                callback = callback_request_create(call=None, caller_number="+15550009999", reason="Rolled back")
                events.callback_requested(callback_request=callback)
                raise RuntimeError("the tool failed after the callback was written")
        except RuntimeError:
            pass
    assert notifications_in("salon") == []


def test_it_retries_when_the_mail_server_says_try_later(committed_db, celery_worker_process, smtp_server):
    from calls.services import callback_request_create

    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    smtp_server.refuse_next(1)
    with schema_context("salon"):
        events.callback_requested(callback_request=callback_request_create(call=None, caller_number="+15550009999",
                                                                           reason="Retry me"))
    wait_until(lambda: smtp_server.to(owner), what="the email after a retry")
    [notification] = wait_until(lambda: notifications_in("salon", status="sent"), what="the row to be sent")
    assert notification.attempts == 2


def test_a_send_that_fails_for_good_is_marked_failed_with_the_reason(committed_db, celery_worker_process, smtp_server):
    from calls.services import callback_request_create

    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    smtp_server.refuse_next(100)
    try:
        with schema_context("salon"):
            events.callback_requested(callback_request=callback_request_create(call=None, caller_number="+15550009999",
                                                                               reason="Never arrives"))
        [notification] = wait_until(lambda: notifications_in("salon", status="failed"), what="the row to fail")
    finally:
        smtp_server.refuse_next(0)
    # The worker's NOTIFICATION_MAX_RETRIES is 2: three attempts in all.
    assert notification.attempts == 3
    assert "Gave up after 3 attempts" in notification.error and "451" in notification.error
    assert smtp_server.to(owner) == []


def test_it_only_sends_the_events_the_business_chose(committed_db, celery_worker_process, smtp_server, api_server):
    owner = a_mailbox()
    recipients_set("salon", emails=[owner], events=["transfer_failed"])
    call = started_call(api_server)
    tool(api_server, call["call_token"], "log_note", {"note": "Not wanted"})
    tool(api_server, call["call_token"], "transfer_to_human", {"reason": "Wanted", "transfer_failed": True})
    wait_until(lambda: smtp_server.to(owner), what="the callback email")
    assert [mail.subject.split()[0] for mail in smtp_server.to(owner)] == ["A"]  # "A transfer failed; ..."
    assert [n.event for n in notifications_in("salon")] == ["transfer_failed"]


def test_it_tells_the_owner_a_caller_cancelled_a_booking(committed_db, celery_worker_process, smtp_server):
    from bookings.models import Booking, Service
    from core import clock

    owner = a_mailbox()
    recipients_set("salon", emails=[owner])
    with schema_context("salon"):
        service = Service.objects.filter(active=True).first()
        start = clock.now() + dt.timedelta(days=3)
        booking = Booking.objects.create(service=service, start=start, end=start + dt.timedelta(minutes=30),
                                         blocked_until=start + dt.timedelta(minutes=30), customer_name="Jane Doe",
                                         customer_phone="+15557654321", status=Booking.Status.CANCELLED)
        events.booking_cancelled(booking=booking, by_caller=True)
    mail = wait_until(lambda: smtp_server.to(owner), what="the email")[0]
    assert mail.subject.startswith(f"Cancelled: {service.name}") and "Jane Doe" in mail.subject


def test_the_business_cancelling_in_the_admin_emails_nobody(committed_db, celery_worker_process, smtp_server):
    from bookings.models import Booking, Service
    from bookings.services import bookings_cancel
    from core import clock

    recipients_set("salon", emails=[a_mailbox()])
    with schema_context("salon"):
        service = Service.objects.filter(active=True).first()
        start = clock.now() + dt.timedelta(days=3)
        booking = Booking.objects.create(service=service, start=start, end=start + dt.timedelta(minutes=30),
                                         blocked_until=start + dt.timedelta(minutes=30), customer_name="Jane Doe",
                                         customer_phone="+15557654321")
        bookings_cancel(booking_ids=[booking.pk])
    assert notifications_in("salon") == []
