"""Calls in the tenant admin: the list with filters and search, and a call's page with the
transcript as a conversation. What came from the phone is read-only."""
import datetime as dt
import re

from django.utils import timezone
from django_tenants.utils import schema_context

from backoffice.tests.factories import booking_make, call_make
from calls.models import CallNote
from messaging.models import SmsMessage
from testing.demo_tenants import NEW_YORK

BOOKING_TURNS = [
    ("assistant", "Thanks for calling Bella Hair Studio, this is Ava. How can I help you today?"),
    ("user", "Hi, I'd like a haircut on Friday at three."),
    ("assistant", "I can book you for a haircut on Friday at 3 PM. What's your name?"),
    ("user", "Maria Lopez."),
    ("assistant", "You're booked, Maria. See you Friday!"),
]


def booked_call():
    call = call_make(
        started_at=dt.datetime(2026, 3, 10, 14, 5, 30, tzinfo=NEW_YORK), caller_number="+15550142424",
        duration_seconds="187.4", outcome="booked", turns=BOOKING_TURNS,
        tools=[("check_availability", {"service": "Haircut", "date": "2026-03-13"}, {"ok": True, "result": {"available": True}}, 6),
               ("create_booking", {"service": "Haircut", "start": "2026-03-13T15:00"}, {"ok": True, "result": {"booking_id": 1}}, 14)],
        llm_prompt_tokens=5400, llm_completion_tokens=210, stt_seconds="80.50", tts_characters=420,
        avg_llm_ttft_ms=412, avg_tts_ttfb_ms=233, avg_end_of_utterance_ms=610,
        metrics={"latency": [{"turn": 1, "llm_ttft_ms": 400, "tts_ttfb_ms": 220, "end_of_utterance_ms": 600}]},
        end_reason="caller said goodbye",
    )
    booking = booking_make(service_name="Haircut", start=dt.datetime(2026, 3, 13, 15, 0, tzinfo=NEW_YORK), call=call)
    SmsMessage.objects.create(to_number="+15550142424", body="Booked: Haircut Fri 13 Mar 15:00", status="sent",
                              booking=booking, call=call)
    CallNote.objects.create(call=call, text="Prefers Anna as her stylist.")
    return call


def test_it_lists_calls_with_time_caller_length_outcome_and_result(salon_admin):
    with schema_context("salon"):
        booked_call()
        call_make(started_at=dt.datetime(2026, 3, 10, 9, 0, tzinfo=NEW_YORK), caller_number="+15550177777",
                  duration_seconds="42", outcome="answered")

    page = salon_admin.get("/admin/calls/call/").content.decode()

    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    booked_row = next(row for row in rows if "+1 555-014-2424" in row)
    assert "Tue 10 Mar, 2:05 PM" in booked_row  # New York time, not UTC (19:05), on the 12-hour clock
    assert "3:07" in booked_row and "Booked" in booked_row and "Booking" in booked_row
    answered_row = next(row for row in rows if "+1 555-017-7777" in row)
    assert "0:42" in answered_row and "Answered a question" in answered_row


def test_it_filters_calls_by_outcome_result_and_length_and_searches_the_transcript(salon_admin):
    with schema_context("salon"):
        booked_call()
        call_make(started_at=timezone.now() - dt.timedelta(days=1), caller_number="+15550177777",
                  duration_seconds="42", outcome="answered", turns=[("user", "Are you open on Mondays?")])

    def listed(query: str) -> set[str]:
        page = salon_admin.get(f"/admin/calls/call/{query}").content.decode()
        return {number for number in ("+1 555-014-2424", "+1 555-017-7777") if number in page}

    assert listed("?outcome__exact=booked") == {"+1 555-014-2424"}
    assert listed("?result=booking") == {"+1 555-014-2424"}
    assert listed("?result=none") == {"+1 555-017-7777"}
    assert listed("?length=short") == {"+1 555-017-7777"}
    assert listed("?length=medium") == {"+1 555-014-2424"}
    assert listed("?q=mondays") == {"+1 555-017-7777"}
    assert listed("?q=5550142424") == {"+1 555-014-2424"}
    assert listed("?q=haircut") == {"+1 555-014-2424"}


def test_it_shows_a_call_as_a_conversation_with_its_tools_results_usage_and_latency(salon_admin):
    with schema_context("salon"):
        call = booked_call()

    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    transcript = re.search(r'data-testid="transcript".*?</section>', page, re.S).group(0)
    said = re.findall(r'<div class="soniq-turn (\w+)[^"]*" data-role="\w+">\s*<span class="soniq-who">[^<]*</span>\s*(.*?)\s*</div>',
                      transcript, re.S)
    assert [(role, text.replace("&#x27;", "'")) for role, text in said] == list(BOOKING_TURNS)
    assert transcript.index("Hi, I&#x27;d like a haircut") < transcript.index("check_availability") < transcript.index("I can book you")
    assert "create_booking" in transcript and "2026-03-13T15:00" in transcript
    assert "Call from +1 555-014-2424" in page
    assert "3:07" in page and "caller said goodbye" in page
    assert "Booking: Haircut, Fri 13 Mar, 3:00 PM" in page
    assert "Text to +1 555-014-2424" in page
    assert "Prefers Anna as her stylist." in page
    assert "5610" in page and "5400 prompt, 210 completion" in page and "80.50 s" in page
    assert "412 ms avg" in page and "233 ms avg" in page and "610 ms avg" in page


def test_it_shows_a_call_in_progress(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=timezone.now(), duration_seconds=None)
    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()
    assert "The call is still going on" in page


def test_it_keeps_phone_data_read_only(salon_admin):
    with schema_context("salon"):
        call = booked_call()
        sms = SmsMessage.objects.get()

    assert salon_admin.get("/admin/calls/call/add/").status_code == 403
    assert salon_admin.post(f"/admin/calls/call/{call.pk}/change/", {"outcome": "other"}).status_code == 403
    assert salon_admin.get(f"/admin/calls/call/{call.pk}/delete/").status_code == 403
    assert salon_admin.get(f"/admin/messaging/smsmessage/{sms.pk}/change/").status_code == 200
    assert salon_admin.post(f"/admin/messaging/smsmessage/{sms.pk}/change/", {"body": "changed"}).status_code == 403
    assert salon_admin.get("/admin/messaging/smsmessage/add/").status_code == 403
    # Turns and tool calls have no admin of their own to edit them through.
    assert salon_admin.get("/admin/calls/transcriptturn/").status_code == 404
    assert salon_admin.get("/admin/calls/toolinvocation/").status_code == 404
    page = salon_admin.get("/admin/calls/call/").content.decode()
    assert 'name="action"' not in page or "delete_selected" not in page
    with schema_context("salon"):
        call.refresh_from_db()
        assert call.outcome == "booked"


def test_it_lists_the_sms_log(salon_admin):
    with schema_context("salon"):
        booked_call()
        SmsMessage.objects.create(to_number="+15550100777", body="Your order is ready", status="failed",
                                  error="30006: unreachable")

    page = salon_admin.get("/admin/messaging/smsmessage/").content.decode()
    assert "Booked: Haircut Fri 13 Mar 15:00" in page and "Sent" in page
    assert "30006: unreachable" in page and "Failed" in page
    failed_only = salon_admin.get("/admin/messaging/smsmessage/?status__exact=failed").content.decode()
    assert "Your order is ready" in failed_only and "Booked: Haircut" not in failed_only


def test_it_never_shows_one_tenants_calls_to_another(salon_admin, pizzeria_admin):
    with schema_context("salon"):
        call = booked_call()
    assert "+1 555-014-2424" not in pizzeria_admin.get("/admin/calls/call/").content.decode()
    assert pizzeria_admin.get(f"/admin/calls/call/{call.pk}/change/").status_code == 302  # "not found", back to the list


def test_the_owner_exports_calls_in_the_salons_time(salon_admin):
    import csv
    import io

    with schema_context("salon"):
        call = call_make(started_at=dt.datetime(2026, 3, 10, 18, 5, tzinfo=dt.UTC), duration_seconds="95.50",
                         outcome="booked", end_reason="Booked a haircut")

    response = salon_admin.post("/admin/calls/call/", {"action": "export_csv", "_selected_action": [str(call.pk)]})

    header, row = list(csv.reader(io.StringIO(response.content.decode())))
    record = dict(zip(header, row, strict=True))
    # 18:05 UTC is 14:05 in New York (EDT since 8 March).
    assert (record["Started"], record["Seconds"], record["Outcome"]) == ("2026-03-10 14:05", "95.50", "Booked")
    assert record["End reason"] == "Booked a haircut"


def test_it_shows_the_reply_wait_the_caller_felt_and_the_carriers_call_id(salon_admin):
    with schema_context("salon"):
        call = call_make(started_at=dt.datetime(2026, 3, 10, 14, 5, 30, tzinfo=NEW_YORK), caller_number="+15550142424",
                         duration_seconds="60", outcome="answered", avg_e2e_latency_ms=940,
                         sip_call_id_full="a84b4c76e66710@pcscf-1.carrier.example.net",
                         metrics={"latency": [{"turn": 1, "llm_ttft_ms": 400, "tts_ttfb_ms": 220,
                                               "end_of_utterance_ms": 600, "e2e_latency_ms": 940}]})

    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    wait = re.search(r"<dt>Reply wait[^<]*</dt><dd>([^<]*)</dd>", page).group(1)
    assert wait == "940 ms avg"
    per_turn = re.search(r"<tbody>(.*?)</tbody>", page[page.index("Per turn"):], re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', per_turn)[:2] == ["940", "400"]
    assert "a84b4c76e66710@pcscf-1.carrier.example.net" in page


def test_it_shows_each_transfer_attempt_to_whom_how_long_it_rang_and_how_it_ended(salon_admin):
    from calls.models import TransferAttempt

    with schema_context("salon"):
        call = call_make(started_at=dt.datetime(2026, 3, 10, 14, 5, 30, tzinfo=NEW_YORK), outcome="callback",
                         duration_seconds="95.0")
        TransferAttempt.objects.create(call=call, sequence=0, target="tel:+15550100900", offset_seconds="21.4",
                                       rang_seconds="18.02", outcome="no_answer")
        TransferAttempt.objects.create(call=call, sequence=1, target="sip:desk@salon.example", offset_seconds="62.0",
                                       rang_seconds="1.5", outcome="busy", sip_status=486)

    page = salon_admin.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    attempts = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
                for item in re.findall(r'data-testid="transfer-attempt">(.*?)</li>', page, re.S)]
    assert attempts == ["To +1 555-010-0900 at 0:21: No answer · rang 0:18",
                        "To sip:desk@salon.example at 1:02: Busy · rang 0:02 · SIP 486"]


def test_a_staff_member_without_the_calls_permission_sees_no_transfer_attempts(salon):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from backoffice.tests.factories import SALON_HOST
    from calls.models import TransferAttempt

    with schema_context("salon"):
        call = call_make(started_at=dt.datetime(2026, 3, 10, 14, 5, 30, tzinfo=NEW_YORK), outcome="callback")
        TransferAttempt.objects.create(call=call, sequence=0, target="tel:+15550100900", outcome="no_answer")
        # Staff, but in no group: the owner has not given them the calls.
        clerk = get_user_model().objects.create_user(username="temp@salon.example", password="x" * 12, is_staff=True)
        client = Client(HTTP_HOST=SALON_HOST)
        client.force_login(clerk)

    response = client.get(f"/admin/calls/call/{call.pk}/change/")

    assert response.status_code in (302, 403)
    assert "+15550100900" not in response.content.decode() and "0100900" not in response.content.decode()
