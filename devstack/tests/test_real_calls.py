"""Phone calls through the real LiveKit server and SIP bridge into the production voice worker.

A SIP phone (baresip) rings a demo business over UDP on loopback; the bridge answers it into a room that
Soniq's own dispatch rule (made by `sip_sync`) sends to our agent; the agent speaks through the Cartesia
stand-in (real speech from espeak-ng), hears through the Deepgram stand-in, decides through the OpenAI
stand-in, and reaches the platform over the internal API. Each test checks what the caller heard (their
recording), the SIP messages their phone got, and what the platform stored.
"""
from __future__ import annotations

import time

import pytest
from django_tenants.utils import schema_context

from devstack.audio import Script, level_db, speech_segments
from devstack.standins import ReceptionistTurns

pytestmark = [pytest.mark.realcall]

SALON_NUMBER = "+15550100001"
CALLER = "+15559990001"


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")


def stored_call(schema: str, *, caller: str, timeout: float = 20.0):
    from calls.models import Call

    def find():
        with schema_context(schema):
            call = Call.objects.filter(caller_number=caller).order_by("-started_at").first()
            return call if call is not None and call.ended_at is not None and call.log_received_at else None

    return wait_for(find, timeout=timeout, what=f"the stored log of {caller}'s call")


def test_a_caller_books_by_phone_and_the_agent_hangs_up_after_its_goodbye(platform, call_script, committed_db,
                                                                           tmp_path):
    call_script(transcripts=["I'd like to book a haircut, please.", "That's all, thank you, bye."])
    wav, lines = Script([(7.0, "I would like to book a haircut please."),
                         (14.0, "That is all, thank you, bye.")]).render(tmp_path / "caller.wav")
    phone = platform.phone(CALLER, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("BYE", timeout=60)
        closed = phone.wait_event("CALL_CLOSED", timeout=10)
    finally:
        phone.stop()

    heard, rate = phone.heard()
    speech = speech_segments(heard, rate)
    # The greeting reaches the caller as speech, well above the line's silence, soon after the answer.
    assert speech, "the caller heard nothing"
    assert level_db(heard[int(speech[0].start * rate):int(speech[0].end * rate)]) > -35
    assert speech[0].start < 3.0
    # The agent answered after the caller's first line, and said goodbye after the last one, before the BYE.
    assert any(segment.start > lines[0].end for segment in speech)
    assert speech[-1].start > lines[1].end
    recorded_seconds = len(heard) / rate
    # The goodbye played out in full before the BYE ended the recording.
    assert speech[-1].end <= recorded_seconds - 0.2

    from bookings.models import Booking

    with schema_context("salon"):
        booking = Booking.objects.filter(customer_phone=CALLER).order_by("-id").first()
        assert booking is not None and booking.customer_name == "Maria Lopez"
    call = stored_call("salon", caller=CALLER)
    assert call.outcome == "booked"
    assert booking.call_id == call.id
    # Deepgram was asked to listen for the business's own words (Nova-3 keyterm prompting).
    assert {"Bella Hair Studio", "Blow Dry", "Colour", "Haircut"} <= set(platform.providers.listen_queries[-1]["keyterm"])
    # The stored duration is the caller's: their recording runs from the answer to the BYE.
    assert abs(float(call.duration_seconds) - recorded_seconds) <= 1.0, (call.duration_seconds, recorded_seconds)
    assert abs(float(call.duration_seconds) - (closed["at"] - established["at"])) <= 1.0


def room_names(platform) -> set[str]:
    import asyncio

    from livekit import api

    async def rooms() -> set[str]:
        config = platform.line.config
        lkapi = api.LiveKitAPI(config.http_url, config.api_key, config.api_secret)
        try:
            listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
            return {room.name for room in listed.rooms}
        finally:
            await lkapi.aclose()

    return asyncio.run(rooms())


def test_a_caller_who_hangs_up_mid_sentence_ends_the_call_at_once(platform, call_script, committed_db, tmp_path):
    call_script(transcripts=["I would like to ask about"])
    wav, lines = Script([(5.0, "I would like to ask about the price of a colour and also whether you are open "
                               "on Sunday mornings for walk in customers")]).render(tmp_path / "caller.wav")
    phone = platform.phone("+15559990002", audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)
        # Hang up in the middle of the caller's own sentence.
        time.sleep(max(0.0, lines[0].start + 1.5 - (time.monotonic() - established["at"])))
        phone.hang_up()
        hung_up_at = time.monotonic()
        phone.wait_event("CALL_CLOSED", timeout=10)
    finally:
        phone.stop()

    call = stored_call("salon", caller="+15559990002", timeout=15)
    stored_after = time.monotonic() - hung_up_at
    assert call.end_reason == "The caller hung up."
    assert call.outcome == "other"
    assert stored_after < 10, "the job did not end when the caller left"
    talk = hung_up_at - established["at"]
    assert abs(float(call.duration_seconds) - talk) <= 1.0
    # Nothing left open: the room is gone once the caller left.
    wait_for(lambda: call.room not in room_names(platform), timeout=10, what="the call's room to close")


@pytest.mark.parametrize("staff_phone", ["auto", "busy", "ignore"], ids=["answered", "busy", "unanswered"])
def test_a_transfer_refers_the_caller_to_the_staff_phone(platform, call_script, staff_transfers, tmp_path,
                                                         staff_phone):
    from calls.models import CallbackRequest

    staff_answers = staff_phone == "auto"
    caller = {"auto": "+15559990003", "busy": "+15559990004", "ignore": "+15559990010"}[staff_phone]
    # "ignore": it rings until the transfer's ringing timeout gives up on it.
    staff = platform.phone("+15550100900", answer=staff_phone)
    staff_transfers(f"sip:+15550100900@{staff.address}")
    call_script(transcripts=["Can I speak to a person please?", "Okay thanks, bye."],
                turns=ReceptionistTurns(goodbye_outcome="callback"))
    # Unanswered, the transfer rings out first (the business's 8 s, not the bridge's default 30 s): the
    # caller's goodbye comes after the agent's fallback, as it would on a real line.
    goodbye_after = 30.0 if staff_phone == "ignore" else 16.0
    wav, lines = Script([(6.0, "Can I speak to a person please?"),
                         (goodbye_after, "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    phone = platform.phone(caller, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        refer = phone.wait_received("REFER", timeout=30)
        assert refer.headers.get("refer-to", "").strip("<>").startswith(f"sip:+15550100900@{staff.address}")
        # The person is told why before they pick up (a carrier that passes X- headers shows it).
        assert refer.headers.get("x-soniq-reason") == "caller asked for a person"
        if staff_answers:
            staff.wait_event("CALL_ESTABLISHED", timeout=20)
            call = stored_call("salon", caller=caller, timeout=30)
            assert call.outcome == "transferred"
            assert call.transferred_to.startswith("sip:+15550100900@")
            with schema_context("salon"):
                assert list(call.transfer_attempts.values_list("outcome", flat=True)) == ["answered"]
        else:
            phone.wait_received("BYE", timeout=90)
            call = stored_call("salon", caller=caller, timeout=30)
            assert call.outcome == "callback"
            with schema_context("salon"):
                assert CallbackRequest.objects.filter(caller_number=caller, call=call).exists()
                assert list(call.transfer_attempts.values_list("outcome", flat=True)) == [
                    {"busy": "busy", "ignore": "no_answer"}[staff_phone]]
            heard, rate = phone.heard()
            refer_offset = refer.at - phone.dialled_at
            # After the failed transfer the caller hears the fallback (speech after the REFER).
            assert any(segment.start > refer_offset for segment in speech_segments(heard, rate))
    finally:
        phone.stop()
        staff.stop()


def call_is_never_answered(platform, caller: str, number: str) -> bool:
    """Dial `number`; True when the bridge closes the call without answering it (no 200 OK, no audio).

    For a number on no trunk, LiveKit's server tells the bridge to drop the INVITE (its answer to
    scanners): the bridge sends 180 Ringing and nothing after it, so the caller's carrier times the call
    out. Nothing is opened: no room, no job, no call row."""
    phone = platform.phone(caller)
    try:
        phone.dial(platform.dial_uri(number))
        wait_for(lambda: platform.line.closed_calls(number), timeout=15, what=f"the bridge to close the call to {number}")
        time.sleep(1.0)
        answered = any(event.get("type") == "CALL_ESTABLISHED" for event in phone.events) or phone.received(200)
        return not answered
    finally:
        phone.stop()


def test_a_number_nobody_owns_is_never_answered(platform, committed_db):
    from calls.models import Call

    rooms_before = room_names(platform)
    assert call_is_never_answered(platform, "+15559990005", "+15550199999")
    assert platform.line.closed_calls("+15550199999")[-1]["result"] == "client_error"
    assert room_names(platform) == rooms_before
    for schema in ("salon", "pizzeria"):
        with schema_context(schema):
            assert not Call.objects.filter(caller_number="+15559990005").exists()


@pytest.fixture
def operator_client(committed_db):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from backoffice.tests.factories import OPERATOR_HOST

    connection.set_schema_to_public()
    user, _ = get_user_model().objects.get_or_create(username="realcall-operator",
                                                     defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST=OPERATOR_HOST)
    client.force_login(user)
    yield client
    connection.set_schema_to_public()
    user.delete()


def test_a_number_added_in_the_admin_rings_through_and_a_removed_one_does_not(platform, call_script, operator_client,
                                                                               tmp_path):
    from calls.models import Call
    from tenants.models import PhoneNumber, Tenant

    number = "+15550100077"
    salon = Tenant.objects.get(schema_name="salon")
    response = operator_client.post("/admin/tenants/phonenumber/add/", {"number": number, "tenant": salon.pk,
                                                                       "label": "Second line"})
    assert response.status_code == 302
    try:
        wait_for(lambda: PhoneNumber.objects.get(number=number).sip_status == PhoneNumber.SipStatus.LIVE,
                 timeout=20, what="the new number to be live on the trunk")
        call_script(transcripts=["Bye."], turns=ReceptionistTurns(goodbye_outcome="answered"))
        wav, _ = Script([(5.0, "Bye.")]).render(tmp_path / "caller.wav")
        phone = platform.phone("+15559990006", audio=wav)
        try:
            phone.dial(platform.dial_uri(number))
            phone.wait_event("CALL_ESTABLISHED", timeout=30)
            phone.wait_received("BYE", timeout=40)
        finally:
            phone.stop()
        call = stored_call("salon", caller="+15559990006")
        assert call.called_number == number
    finally:
        pk = PhoneNumber.objects.get(number=number).pk
        operator_client.post(f"/admin/tenants/phonenumber/{pk}/delete/", {"post": "yes"})
    # The sync after the delete takes it off the trunk: the next call to it is not answered.
    wait_for(lambda: not PhoneNumber.objects.filter(number=number).exists() and platform.line.closed_calls(number)
             is not None, timeout=5, what="the deletion")
    wait_for(lambda: call_is_never_answered(platform, "+15559990007", number), timeout=40,
             what="a call to the removed number to go unanswered", interval=1.0)
    with schema_context("salon"):
        assert not Call.objects.filter(caller_number="+15559990007").exists()


def test_a_worker_told_to_stop_finishes_its_call_and_the_next_call_goes_to_the_other(platform, call_script,
                                                                                      committed_db, tmp_path):
    import signal

    from devstack.processes import voice_worker

    second = voice_worker(platform.env, name="voice-worker-2")
    workers = [platform.worker, second]
    try:
        call_script(transcripts=["That's all, bye."], turns=ReceptionistTurns(goodbye_outcome="answered"))
        wav, lines = Script([(8.0, "That is all, bye.")]).render(tmp_path / "caller.wav")
        phone = platform.phone("+15559990008", audio=wav)
        try:
            marks = [len(worker.log()) for worker in workers]
            phone.dial(platform.dial_uri(SALON_NUMBER))
            phone.wait_event("CALL_ESTABLISHED", timeout=30)
            holder = next(worker for worker, mark in zip(workers, marks, strict=True)
                          if "received job request" in worker.log()[mark:])
            other = second if holder is platform.worker else platform.worker
            holder.signal(signal.SIGTERM)  # a deploy: drain, finish the live call, then exit
            phone.wait_received("BYE", timeout=60)
        finally:
            phone.stop()
        call = stored_call("salon", caller="+15559990008")
        assert call.outcome == "answered"
        assert call.end_reason != "The caller hung up."
        heard, rate = phone.heard()
        assert speech_segments(heard, rate)[-1].start > lines[0].end  # the goodbye was said
        holder.process.wait(60)

        mark = len(other.log())
        next_phone = platform.phone("+15559990009", audio=wav)
        try:
            next_phone.dial(platform.dial_uri(SALON_NUMBER))
            next_phone.wait_event("CALL_ESTABLISHED", timeout=30)
            next_phone.wait_received("BYE", timeout=60)
        finally:
            next_phone.stop()
        assert "received job request" in other.log()[mark:]
        assert stored_call("salon", caller="+15559990009")
    finally:
        if second is not platform.worker:
            second.stop()
        if not platform.worker.running():
            platform.worker = second if second.running() else voice_worker(platform.env)
