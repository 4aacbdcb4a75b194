"""Poison input against the owner's follow-ups (issue 29, item 2): whatever a caller says or a provider
answers, each email and staff SMS reaches a final state within its retry budget (the worker's
NOTIFICATION_MAX_RETRIES is 2), and a caller cannot suppress the owner's callback email."""
from __future__ import annotations

import uuid

import pytest

from notifications.models import Notification
from notifications.tests.helpers import notifications_in, recipients_set, wait_until
from voiceapi.tests.voice_api import started_call, tool

STAFF_MOBILE = "+15557770001"


@pytest.mark.parametrize("name", ["Ja\vne", "Ja\fne", "Ja\x1cne", "Jane\r\nBcc: everyone@evil.example",
                                  "Jane\nSubject: free money", "Jane\u2028Doe", "Jane\x07\x1b[2J"])
def test_a_caller_name_with_control_characters_cannot_stop_the_owners_email(committed_db, api_server,
                                                                            celery_worker_process, smtp_server, name):
    owner = f"owner-{uuid.uuid4().hex[:8]}@salon.example"
    recipients_set("salon", emails=[owner])
    call = started_call(api_server)
    response = tool(api_server, call["call_token"], "transfer_to_human",
                    {"reason": "Wants to talk about a refund", "caller_name": name})
    assert response.status_code == 200, response.text

    [mail] = wait_until(lambda: smtp_server.to(owner), what="the owner's email")
    assert mail.subject.startswith("Call back Ja") and "+15557654321" in mail.subject
    assert mail.to == [owner] and mail.message["Bcc"] is None
    [row] = wait_until(lambda: notifications_in("salon", status=Notification.Status.SENT), what="the row marked sent")
    assert row.attempts == 1 and not any(ord(char) < 32 for char in row.subject)


def test_a_poison_answer_from_signalwire_leaves_the_staff_text_failed_not_pending(committed_db, api_server,
                                                                                  celery_worker_process, signalwire_fake):
    signalwire_fake.reset()
    signalwire_fake.answer_next(400)
    signalwire_fake.error_message = "Blocked\x00 by\x1b carrier"
    recipients_set("salon", emails=[], sms=[STAFF_MOBILE])
    call = started_call(api_server)
    assert tool(api_server, call["call_token"], "transfer_to_human", {"reason": "Refund"}).status_code == 200
    try:
        [row] = wait_until(lambda: notifications_in("salon", status=Notification.Status.FAILED), what="the text to fail")
    finally:
        signalwire_fake.reset()
    assert "Blocked by carrier" in row.error and row.attempts == 1
    assert notifications_in("salon", status=Notification.Status.PENDING) == []


def test_a_staff_text_that_signalwire_keeps_refusing_fails_within_the_retry_budget(committed_db, api_server,
                                                                                   celery_worker_process,
                                                                                   signalwire_fake):
    signalwire_fake.reset()
    signalwire_fake.answer_next(*[503] * 20)
    signalwire_fake.error_message = "Down\x00 for\x0b maintenance"
    recipients_set("salon", emails=[], sms=[STAFF_MOBILE])
    call = started_call(api_server)
    assert tool(api_server, call["call_token"], "transfer_to_human", {"reason": "Refund"}).status_code == 200
    try:
        [row] = wait_until(lambda: notifications_in("salon", status=Notification.Status.FAILED), what="the text to fail")
    finally:
        signalwire_fake.reset()
    assert row.attempts == 3 and "Gave up after 3 attempts" in row.error and "Down for maintenance" in row.error
