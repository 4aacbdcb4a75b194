"""Warm transfers on the real line: the agent dials the staff phone into the caller's room through the
outbound trunk, briefs the staff member while the caller hears only hold tones, and on "1" leaves the
two together; on "2" (or no answer within the business's ringing timeout) the caller hears the sentence
for how it ended at once and a callback is queued. Every attempt is stored as a warm TransferAttempt.

Three SIP phones' worth of truth: the caller (baresip dialling the salon), the staff phone (baresip on
the platform's carrier port, where the outbound trunk sends the agent's calls), and what the platform
stored. The staff member answers with a key press (`sndcode`, RFC 2833 DTMF), as docs/sip.md says.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from django_tenants.utils import schema_context
from livekit import api

from devstack.audio import Script, speech_segments
from devstack.standins import ReceptionistTurns
from devstack.tests.test_real_calls import SALON_NUMBER, stored_call, wait_for

pytestmark = [pytest.mark.realcall]

STAFF = "+15550100900"
CALLER_LINE = "Can I speak to a person please?"


@pytest.fixture
def warm_transfers(committed_db):
    """The salon takes warm transfers all day on STAFF (the carrier rings the staff phone); restored afterwards."""
    import datetime as dt

    from tenants.agent.models import AgentSettings, EscalationHours

    with schema_context("salon"):
        row = AgentSettings.objects.get()
        saved = (row.transfer_to, row.transfer_mode, list(EscalationHours.objects.values("weekday", "starts", "ends")),
                 row.transfer_ringing_seconds)
        # Rung 8 s (the business's setting, not a fixed 18 s), so an unanswered transfer ends sooner.
        AgentSettings.objects.filter(pk=row.pk).update(transfer_to=f"tel:{STAFF}", transfer_mode="warm",
                                                       transfer_ringing_seconds=8)
        EscalationHours.objects.all().delete()
        for weekday in range(7):
            EscalationHours.objects.create(weekday=weekday, starts=dt.time(0, 0), ends=dt.time(23, 59, 59))
    yield
    with schema_context("salon"):
        AgentSettings.objects.filter(pk=row.pk).update(transfer_to=saved[0], transfer_mode=saved[1],
                                                       transfer_ringing_seconds=saved[3])
        EscalationHours.objects.all().delete()
        EscalationHours.objects.bulk_create(EscalationHours(**hours) for hours in saved[2])


def spoken_at(providers, fragment: str, *, after: float = 0.0) -> float | None:
    """When the stand-in TTS was asked to say a text containing `fragment` (time.monotonic())."""
    return next((at for at, text in providers.spoken if fragment in text and at >= after), None)


def non_tone_levels(samples: np.ndarray, rate: int, *, frame_seconds: float = 0.1) -> np.ndarray:
    """Each frame's level in dBFS in 700-3400 Hz: speech has much of its energy there, the hold tones
    (440/480 Hz) none but the codec's splatter at their edges, measured at -44 dBFS at most."""
    size = int(rate * frame_seconds)
    count = len(samples) // size
    frames = samples[: count * size].astype(np.float64).reshape(count, size) / 32768.0
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / rate)
    keep = (freqs > 700) & (freqs < 3400)
    # Parseval with the Hann window's power (3/8): the RMS of the kept band.
    rms = np.sqrt(spectrum[:, keep].sum(axis=1) * 2 / (size * size * 0.375))
    return 20 * np.log10(np.maximum(rms, 1e-5))


def rooms_with(platform, identity_prefix: str) -> dict[str, list]:
    """Rooms that have a participant whose identity starts with `identity_prefix`, with their participants."""
    config = platform.line.config

    async def run():
        async with api.LiveKitAPI(config.http_url, config.api_key, config.api_secret) as lkapi:
            found = {}
            for room in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms:
                listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room.name))
                if any(p.identity.startswith(identity_prefix) for p in listed.participants):
                    found[room.name] = list(listed.participants)
            return found

    return asyncio.run(run())


def test_a_warm_transfer_briefs_the_staff_member_out_of_the_callers_hearing_then_connects_them(
        platform, call_script, warm_transfers, tmp_path):
    caller_number = "+15559990021"
    call_script(transcripts=[CALLER_LINE], turns=ReceptionistTurns(goodbye_outcome="transferred"))
    # Both sides talk only well after the connection should be made, for long enough to outlast a slow run.
    caller_wav, caller_lines = Script([(6.0, CALLER_LINE), (45.0, "This is the caller, can you hear me now?")]
                                      + [(1.0, "This is the caller, can you hear me now?")] * 14,
                                      tail_seconds=30).render(tmp_path / "caller.wav")
    # The staff member says "Hello?" on picking up, during the briefing: the caller, on hold, must not hear it.
    staff_wav, _ = Script([(2.0, "Hello? Who is this?"), (24.0, "Front desk here, how can I help you today?")]
                          + [(1.0, "Front desk here, how can I help you today?")] * 14,
                          tail_seconds=30).render(tmp_path / "staff.wav")
    staff = platform.carrier_phone(STAFF, answer="auto", audio=staff_wav)
    phone = platform.phone(caller_number, audio=caller_wav)
    providers = platform.providers
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)
        invite = staff.wait_received("INVITE", timeout=60)
        staff_established = staff.wait_event("CALL_ESTABLISHED", timeout=20)
        # The stand-in TTS is asked sentence by sentence: the briefing starts with who is calling.
        briefed = wait_for(lambda: spoken_at(providers, "phone assistant of", after=established["at"]), timeout=20,
                           what="the briefing to be synthesised")
        time.sleep(4.0)  # the staff member listens a little, then presses 1
        staff.command("sndcode", "1")
        connecting = wait_for(lambda: spoken_at(providers, "connecting you now", after=briefed), timeout=40,
                              what="the agent to connect the staff member")
        # The agent leaves; caller and staff stay in the room.
        wait_for(lambda: any(
            not any(p.kind == api.ParticipantInfo.Kind.AGENT for p in participants)
            and {"staff-"} <= {p.identity[:6] for p in participants} and len(participants) == 2
            for participants in rooms_with(platform, "staff-").values()), timeout=30, what="the agent to leave")
        # Let both sides talk for a while (their bursts run until ~caller second 95).
        end_at = established["at"] + caller_lines[-1].end - 2
        time.sleep(max(0.0, end_at - time.monotonic()))
        assert not phone.received("BYE"), "the caller's call ended with the agent"
    finally:
        phone.stop()
        staff.stop()

    # The staff phone was called from the salon's own number, and heard the briefing.
    assert SALON_NUMBER in invite.headers["from"]
    briefing = " ".join(text for at, text in providers.spoken if briefed <= at < connecting)
    assert "Bella Hair Studio" in briefing and caller_number in briefing
    assert "caller asked for a person" in briefing and "Press 1 to take the call" in briefing
    staff_heard, staff_rate = staff.heard()
    staff_offset = staff_established["at"]
    briefing_speech = [s for s in speech_segments(staff_heard, staff_rate)
                       if briefed - staff_offset - 1 <= s.start <= connecting - staff_offset]
    assert sum(s.duration for s in briefing_speech) > 3.0, "the staff phone did not hear the briefing"

    # The caller heard no speech, neither the briefing nor the staff member's "Hello?", until the connection
    # (the hold tones are fine).
    heard, rate = phone.heard()
    levels = non_tone_levels(heard, rate)
    window = slice(int((briefed - established["at"]) * 10), int((connecting - established["at"]) * 10))
    assert len(levels[window]) > 30
    # Speech measures -14 to -21 dBFS in that band on this line (the announcement just before).
    assert levels[window].max() < -35, f"the caller heard speech while on hold: {levels[window].max():.1f} dBFS"
    # ... but did hear something while held: the hold tones.
    held = heard[int((briefed - established["at"]) * rate):int((connecting - established["at"]) * rate)]
    assert speech_segments(held, rate, threshold_db=-35), "the caller heard no hold audio"

    # After the connection they hear each other: the staff member's words at the caller, and the other way.
    joined = connecting + 3 - established["at"]
    assert sum(s.duration for s in speech_segments(heard, rate) if s.start > joined) > 5.0
    staff_after = [s for s in speech_segments(staff_heard, staff_rate) if s.start > connecting + 3 - staff_offset]
    assert sum(s.duration for s in staff_after) > 5.0

    call = stored_call("salon", caller=caller_number, timeout=30)
    assert call.outcome == "transferred"
    assert call.transferred_to == f"tel:{STAFF}"
    with schema_context("salon"):
        attempts = list(call.transfer_attempts.values("kind", "target", "outcome"))
    assert attempts == [{"kind": "warm", "target": f"tel:{STAFF}", "outcome": "answered"}]


@pytest.mark.parametrize("staff_answer", ["declined", "unanswered"])
def test_a_warm_transfer_nobody_takes_comes_back_to_the_caller_with_a_callback(
        platform, call_script, warm_transfers, tmp_path, staff_answer):
    from calls.models import CallbackRequest

    caller_number = {"declined": "+15559990022", "unanswered": "+15559990023"}[staff_answer]
    call_script(transcripts=[CALLER_LINE, "Okay thanks, bye."], turns=ReceptionistTurns(goodbye_outcome="callback"))
    # Unanswered, the staff phone rings out first (the business's 8 s): the caller's goodbye comes after the fallback.
    caller_wav, _ = Script([(6.0, CALLER_LINE), (40.0 if staff_answer == "declined" else 42.0,
                                                 "Okay thanks, bye.")]).render(tmp_path / "caller.wav")
    staff = platform.carrier_phone(STAFF, answer="auto" if staff_answer == "declined" else "ignore")
    phone = platform.phone(caller_number, audio=caller_wav)
    providers = platform.providers
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        established = phone.wait_event("CALL_ESTABLISHED", timeout=30)
        invite = staff.wait_received("INVITE", timeout=60)
        if staff_answer == "declined":
            staff.wait_event("CALL_ESTABLISHED", timeout=20)
            wait_for(lambda: spoken_at(providers, "Press 1", after=established["at"]), timeout=20,
                     what="the briefing to be synthesised")
            time.sleep(3.0)
            staff.command("sndcode", "2")
            staff.wait_received("BYE", timeout=30)  # the agent hangs up the staff leg
        # The fixed sentence of how it ended (as after a cold transfer), before the model's callback offer.
        sentence = {"declined": "my colleague can't take your call", "unanswered": "nobody is answering"}[staff_answer]
        not_taken = wait_for(lambda: spoken_at(providers, sentence, after=established["at"]),
                             timeout=60, what="the fallback sentence")
        phone.wait_received("BYE", timeout=90)
    finally:
        phone.stop()
        staff.stop()

    assert SALON_NUMBER in invite.headers["from"]
    heard, rate = phone.heard()
    # The fixed sentence reached the caller: speech again after the agent came back.
    assert any(s.start > not_taken - established["at"] - 0.5 and s.duration > 1.0 for s in speech_segments(heard, rate))
    call = stored_call("salon", caller=caller_number, timeout=30)
    assert call.outcome == "callback"
    assert call.transferred_to == ""
    with schema_context("salon"):
        callback = CallbackRequest.objects.get(caller_number=caller_number, call=call)
    assert callback.reason == "caller asked for a person"
    with schema_context("salon"):
        attempt = call.transfer_attempts.get()
    assert (attempt.kind, attempt.target) == ("warm", f"tel:{STAFF}")
    assert attempt.outcome == {"declined": "declined", "unanswered": "no_answer"}[staff_answer]
    if staff_answer == "unanswered":
        # The staff phone rang for the business's 8 s, not the 18 s the warm transfer used to ring.
        assert attempt.rang_seconds < 18
