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
        bye = phone.wait_received("BYE", timeout=60)
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
    assert speech[-1].end <= recorded_seconds

    from bookings.models import Booking

    with schema_context("salon"):
        booking = Booking.objects.filter(customer_phone=CALLER).order_by("-id").first()
        assert booking is not None and booking.customer_name == "Maria Lopez"
    call = stored_call("salon", caller=CALLER)
    assert call.outcome == "booked"
    assert booking.call_id == call.id
    talk_seconds = closed["at"] - established["at"]
    assert abs(float(call.duration_seconds) - talk_seconds) <= 1.0, (call.duration_seconds, talk_seconds, bye)
