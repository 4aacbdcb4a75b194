"""Everything that follows what happens on a call (a callback promised, a transfer that failed, a
message left, the call's end), heard where people hear it: the owner's email and staff text, and the
signed webhook. Each goes through the voice API, as the worker calls it."""
import datetime as dt

import pytest

from calls.tests.test_call_log_ingestion import a_log, post_log, start_call
from notifications.tests.helpers import wait_until
from voiceapi.tests.voice_api import CALLER, a_call, tenant_named, tool

# Monday 9 March 2026, 10:00 in New York: nobody takes transfers on Mondays (Tuesday and Wednesday only).
MONDAY_MORNING = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def monday(monkeypatch):
    monkeypatch.setattr("core.clock.now", lambda: MONDAY_MORNING)


def test_a_callback_promised_on_the_phone_reaches_the_owner_the_staff_and_the_webhook(followups, api_server, monday):
    call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    response = tool(api_server, token, "transfer_to_human", {"reason": "Price of highlights", "caller_name": "Jane"})

    assert response.status_code == 200 and response.json()["result"]["action"] == "callback", response.text
    assert heard.settled() == {"owner email", "staff text", "webhook callback.created"}
    [mail] = heard.emails()
    assert mail.subject == f"Call back Jane on {CALLER}" and "Price of highlights" in mail.body
    [payload] = heard.webhooks("callback.created")
    assert payload["data"]["transfer_failed"] is False and payload["data"]["call_id"] == str(call.pk)


def test_a_failed_transfer_reaches_the_owner_the_staff_and_the_webhook(followups, api_server, monday):
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    response = tool(api_server, token, "transfer_to_human", {"reason": "Complaint", "transfer_failed": True})

    assert response.status_code == 200, response.text
    assert heard.settled() == {"owner email", "staff text", "webhook callback.created"}
    assert heard.emails()[0].subject.startswith("A transfer failed; call back")
    [payload] = heard.webhooks("callback.created")
    assert payload["data"]["transfer_failed"] is True


def test_a_message_left_on_the_phone_reaches_the_owner_and_the_staff(followups, api_server, monday):
    _call, token = a_call(tenant_named("salon"))
    heard = followups.listen("salon", customer=CALLER)

    response = tool(api_server, token, "log_note", {"note": "Please ring Mrs Patel about her voucher"})

    assert response.status_code == 200, response.text
    assert heard.settled() == {"owner email", "staff text"}
    assert "Please ring Mrs Patel about her voucher" in heard.emails()[0].body
    assert heard.texts("+15557770009") == [f"Message from {CALLER}: Please ring Mrs Patel about her voucher"]


def test_the_end_of_a_call_reaches_the_webhook_with_its_summary(followups, api_server):
    call, token = start_call("salon")
    heard = followups.listen("salon", customer=CALLER)

    assert post_log(api_server, call.pk, token, a_log(turns=4)).status_code == 202

    wait_until(lambda: heard.webhooks("call.ended"), what="call.ended")
    assert heard.settled() == {"webhook call.ended"}
    [payload] = heard.webhooks("call.ended")
    assert payload["data"]["call_id"] == str(call.pk) and payload["data"]["summary"]["intent"] == "reschedule"
