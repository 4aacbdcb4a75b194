"""Cold transfers that nobody takes, through the real LiveKit server and SIP bridge (issue 24 items 1, 2, 4).

The caller's phone (baresip) gets the bridge's REFER and itself rings the staff phone (another baresip),
as a carrier does. Each test checks what the REFER told the person (the X-Soniq headers), that the staff
phone was rung (INVITE), what the caller heard once the transfer came back (the fixed sentence, then the
fallback) and when (the business's ringing timeout, not the bridge's 30 s), and what the platform
stored: the callback or the message, and each transfer attempt in the call log and on the call page.
The staff phone's INVITE is the caller's carrier's: only it can CANCEL it (docs/sip.md, "Transfers").
"""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from core.call_phrases import PHRASES
from devstack.audio import Script, speech_segments
from devstack.standins import ReceptionistTurns
from devstack.tests.test_real_calls import SALON_NUMBER, stored_call, wait_for

pytestmark = [pytest.mark.realcall]

STAFF = "+15550100900"
# Short, so a test does not wait out the default 18 s; the SIP bridge's own default is 30 s.
RINGING_SECONDS = 8


@pytest.fixture
def salon_transfers(committed_db):
    """The salon takes transfers all day on a staff phone the test starts, rings it RINGING_SECONDS,
    and falls back as the test says; everything restored afterwards."""
    import datetime as dt

    from tenants.agent.models import AgentSettings, EscalationHours

    fields = ["transfer_to", "transfer_ringing_seconds", "escalation_fallback"]
    with schema_context("salon"):
        saved = AgentSettings.objects.values(*fields).get()
        saved_hours = list(EscalationHours.objects.values("weekday", "starts", "ends"))

    def take_transfers_at(uri: str, *, fallback: str = "callback") -> None:
        with schema_context("salon"):
            AgentSettings.objects.update(transfer_to=uri, transfer_ringing_seconds=RINGING_SECONDS,
                                         escalation_fallback=fallback)
            EscalationHours.objects.all().delete()
            for weekday in range(7):
                EscalationHours.objects.create(weekday=weekday, starts=dt.time(0, 0), ends=dt.time(23, 59, 59))

    yield take_transfers_at
    with schema_context("salon"):
        AgentSettings.objects.update(**saved)
        EscalationHours.objects.all().delete()
        EscalationHours.objects.bulk_create(EscalationHours(**hours) for hours in saved_hours)


def call_page(call) -> str:
    """The call's page in the salon's admin, as its owner sees it."""
    from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client

    response = owner_client("salon", SALON_HOST, SALON_OWNER[0]).get(f"/admin/calls/call/{call.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def agent_said(call) -> list[str]:
    with schema_context("salon"):
        return list(call.turns.filter(role="assistant").values_list("text", flat=True))


def wait_for_transcript(call) -> None:
    from calls.models import Call

    def stored():
        with schema_context("salon"):
            return Call.objects.filter(pk=call.pk, log_stored_at__isnull=False).exists()
    wait_for(stored, timeout=30, what="the call's transcript to be stored")


def test_an_unanswered_transfer_rings_for_the_business_timeout_then_the_caller_hears_why_and_a_callback_is_queued(
        platform, call_script, salon_transfers, tmp_path):
    from calls.models import CallbackRequest, TransferAttempt

    caller = "+15559990021"
    staff = platform.phone(STAFF, answer="ignore")
    salon_transfers(f"sip:{STAFF}@{staff.address}")
    call_script(transcripts=["Can I speak to a person please?", "Okay thanks, bye."],
                turns=ReceptionistTurns(goodbye_outcome="callback"))
    wav, _ = Script([(6.0, "Can I speak to a person please?"), (34.0, "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)["at"]
        refer = phone.wait_received("REFER", timeout=30)
        # The person is told why before they pick up: the REFER carries the reason and the caller.
        assert refer.headers.get("x-soniq-reason") == "caller asked for a person"
        assert refer.headers.get("x-soniq-caller") == caller
        # The caller's phone (the carrier) rings the staff phone, which does not answer.
        staff.wait_received("INVITE", timeout=20)
        phone.wait_received("BYE", timeout=60)
        call = stored_call("salon", caller=caller, timeout=30)
        assert call.outcome == "callback"
        with schema_context("salon"):
            assert CallbackRequest.objects.filter(caller_number=caller, call=call).exists()
            attempt = TransferAttempt.objects.get(call=call)
        assert (attempt.target, attempt.outcome) == (f"sip:{STAFF}@{staff.address}", "no_answer")
        assert attempt.rang_seconds is not None and attempt.rang_seconds >= RINGING_SECONDS - 1
        # The caller heard the agent again after the REFER — the fixed sentence, then the callback —
        # once the business's 8 s had rung out, not after the bridge's default 30 s.
        heard, rate = phone.heard()
        refer_offset = refer.at - established
        assert any(refer_offset < segment.start < refer_offset + 25 for segment in speech_segments(heard, rate))
        wait_for_transcript(call)
        said = agent_said(call)
        assert PHRASES["transfer_no_answer"] in said
        page = call_page(call)
        assert 'data-testid="transfer-attempt"' in page and "No answer" in page
    finally:
        phone.stop()
        staff.stop()


def test_a_busy_staff_phone_gets_the_fixed_sentence_at_once_and_a_callback(platform, call_script, salon_transfers,
                                                                           tmp_path):
    from calls.models import CallbackRequest, TransferAttempt

    caller = "+15559990022"
    staff = platform.phone(STAFF, answer="busy")
    salon_transfers(f"sip:{STAFF}@{staff.address}")
    call_script(transcripts=["Can I speak to a person please?", "Okay thanks, bye."],
                turns=ReceptionistTurns(goodbye_outcome="callback"))
    wav, _ = Script([(6.0, "Can I speak to a person please?"), (22.0, "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("REFER", timeout=30)
        staff.wait_received("INVITE", timeout=20)
        phone.wait_received("BYE", timeout=60)
        call = stored_call("salon", caller=caller, timeout=30)
        with schema_context("salon"):
            assert CallbackRequest.objects.filter(caller_number=caller, call=call).exists()
            attempt = TransferAttempt.objects.get(call=call)
        assert (attempt.outcome, attempt.sip_status) == ("busy", 486)
        wait_for_transcript(call)
        said = agent_said(call)
        busy = said.index(PHRASES["transfer_busy"])
        # The fixed sentence first, then the agent's word on the callback.
        assert any("call you back" in text for text in said[busy + 1:]), said
        assert "Busy" in call_page(call)
    finally:
        phone.stop()
        staff.stop()


def test_a_business_that_takes_messages_stores_the_callers_message_after_a_failed_transfer(
        platform, call_script, salon_transfers, tmp_path):
    from calls.models import CallbackRequest, CallNote

    caller = "+15559990023"
    message = "Tell them my boiler is leaking."
    staff = platform.phone(STAFF, answer="busy")
    salon_transfers(f"sip:{STAFF}@{staff.address}", fallback="message")
    call_script(transcripts=["Can I speak to a person please?", message, "Okay thanks, bye."],
                turns=ReceptionistTurns(goodbye_outcome="other"))
    wav, _ = Script([(6.0, "Can I speak to a person please?"), (20.0, message),
                     (30.0, "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("REFER", timeout=30)
        phone.wait_received("BYE", timeout=60)
        call = stored_call("salon", caller=caller, timeout=30)
        with schema_context("salon"):
            assert list(CallNote.objects.filter(call=call).values_list("text", flat=True)) == [message]
            # The business chose messages: no callback is promised.
            assert not CallbackRequest.objects.filter(call=call).exists()
        wait_for_transcript(call)
        assert PHRASES["transfer_busy"] in agent_said(call)
    finally:
        phone.stop()
        staff.stop()
