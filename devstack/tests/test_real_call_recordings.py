"""A recorded phone call through the real LiveKit server and SIP bridge into the production voice worker
(see test_real_calls.py for the path): with recording on, the caller hears the disclosure before the
greeting, and the recording stored through gunicorn's internal API holds the caller's WAV on the left
channel and the agent's synthesized speech on the right, at the moments each was said, as long as the call.
"""
from __future__ import annotations

import numpy as np
import pytest
from django_tenants.utils import schema_context

from calls.tests.test_call_recordings import recording_of
from devstack.audio import Script, frame_levels, speak, speech_segments
from devstack.standins import ReceptionistTurns
from devstack.tests.test_real_calls import SALON_NUMBER, stored_call, wait_for
from voiceworker.tests.test_recordings import channel_rms, file_seconds

pytestmark = [pytest.mark.realcall]

CALLER = "+15559990011"
# What the worker's clock, the bridge and the phone's jitter buffer may put between one side's moment and
# the other's (the recording's, the caller's WAV, what the phone heard).
SLACK = 1.0
# Speech on a channel is far above this (the tests in voiceworker/tests/test_recordings.py measure ~0.1);
# the other side's silence, through Opus, far below it.
QUIET, LOUD = 0.01, 0.02
# A sentence's loudness contour against the recording where it was said: 0.94-0.99 for the agent's
# channel and the greeting the phone heard in these calls; against another sentence, at most 0.45.
MATCHES = 0.6
CALLER_RATE = 8000  # the caller's WAV, a phone line's narrowband
AGENT_RATE = 16000  # the agent's channel as recorded (voiceworker.recordings.RECORDING_SAMPLE_RATE)


@pytest.fixture
def salon_records_calls(committed_db):
    from tenants.agent.models import AgentSettings

    with schema_context("salon"):
        saved = AgentSettings.objects.values("pk", "record_calls").get()
        AgentSettings.objects.filter(pk=saved["pk"]).update(record_calls=True)
        disclosure = AgentSettings.objects.get().disclosure_text()
    yield disclosure
    with schema_context("salon"):
        AgentSettings.objects.filter(pk=saved["pk"]).update(record_calls=saved["record_calls"])


def stereo(path) -> tuple[np.ndarray, int]:
    """The stored file decoded: (2, samples) float in [-1, 1] and the rate."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        pcm = np.concatenate([frame.to_ndarray().reshape(2, -1) for frame in container.decode(stream)], axis=1)
    return pcm, rate


def as_int16(channel: np.ndarray) -> np.ndarray:
    return (np.clip(channel, -1.0, 1.0) * 32767).astype(np.int16)


def spoken_seconds(text: str, rate: int = 16000) -> float:
    """How long the voice stand-in speaks `text` (espeak-ng's padding left out)."""
    return sum(segment.duration for segment in speech_segments(speak(text, rate=rate), rate))


def locate(heard: np.ndarray, rate: int, text: str, *, within: tuple[float, float], voice_rate: int
           ) -> tuple[float, float]:
    """Where `text`, as espeak-ng says it at `voice_rate` (as the voice stand-in does), sits in
    a recording between two moments: (seconds into it, how well its loudness contour matches there,
    Pearson's r). Words are not recognised; a sentence's rise and fall of loudness over a few seconds is
    its fingerprint."""
    reference = speak(text, rate=voice_rate)
    inner = speech_segments(reference, voice_rate)
    reference = reference[int(inner[0].start * voice_rate):int(inner[-1].end * voice_rate)]
    ref = np.maximum(frame_levels(reference, voice_rate), -60.0)
    ref = (ref - ref.mean()) / ref.std()
    levels = np.maximum(frame_levels(heard, rate), -60.0)
    frame = len(heard) / rate / len(levels)
    first, last = int(within[0] / frame), min(int(within[1] / frame), len(levels)) - len(ref)
    best = (-1.0, 0)
    for index in range(max(first, 0), last + 1):
        window = levels[index:index + len(ref)]
        if window.std() == 0:
            continue
        score = float(np.dot(ref, (window - window.mean()) / window.std()) / len(ref))
        best = max(best, (score, index))
    return best[1] * frame, best[0]


def test_a_recording_call_has_the_disclosure_first_and_each_side_on_its_own_channel(
        platform, call_script, salon_records_calls, tmp_path):
    disclosure = salon_records_calls
    providers = platform.providers
    call_script(transcripts=["Do you have anything free tomorrow?", "No, that's all, thank you, bye."],
                turns=ReceptionistTurns(goodbye_outcome="answered"))
    # The caller waits for the whole opening (disclosure and greeting, as the voice says them) to end.
    opening = sum(len(speak(text, rate=CALLER_RATE)) / CALLER_RATE for text in (
        disclosure, "Thanks for calling Bella Hair Studio, this is Ava.", "How can I help you today?"))
    wav, lines = Script([(opening + 3.0, "Do you have anything free tomorrow?"),
                         (6.0, "No, that is all, thank you, bye.")], rate=CALLER_RATE).render(tmp_path / "caller.wav")
    spoken_before = len(providers.spoken)
    phone = platform.phone(CALLER, audio=wav)
    try:
        phone.dial(platform.dial_uri(SALON_NUMBER))
        phone.wait_event("CALL_ESTABLISHED", timeout=30)
        phone.wait_received("BYE", timeout=90)
        phone.wait_event("CALL_CLOSED", timeout=10)
    finally:
        phone.stop()
    call = stored_call("salon", caller=CALLER)
    assert call.outcome == "answered"

    # The voice was asked for the disclosure on its own, then for the greeting.
    said = [text.strip() for _, text in providers.spoken[spoken_before:] if text.strip()]
    assert said[0] == disclosure, said
    assert said[1].startswith("Thanks for calling Bella Hair Studio"), said
    # What the caller heard: the greeting (found by its loudness contour), after as much speech as the
    # disclosure holds. (The first seconds of a call pass the phone's jitter buffer while it settles, so
    # the disclosure's own contour is matched in the recording below, where the agent's audio is exact.)
    heard, rate = phone.heard()
    speech = speech_segments(heard, rate)
    greeted_at, greeting_match = locate(heard, rate, said[1], within=(0.0, lines[0].start), voice_rate=rate)
    assert greeting_match > MATCHES, greeting_match
    disclosure_seconds = spoken_seconds(disclosure)
    before_greeting = sum(max(0.0, min(segment.end, greeted_at) - segment.start) for segment in speech)
    assert abs(before_greeting - disclosure_seconds) < 0.6, (before_greeting, disclosure_seconds, speech)

    # The stored recording: two channels of Ogg/Opus, as long as the call.
    stored = wait_for(lambda: recording_of("salon", call.pk), timeout=30, what="the call's recording to be stored")
    with schema_context("salon"):
        path = stored.audio.path
    channel_rms(path, start=0.0, end=0.1)  # asserts it is Opus with two channels
    pcm, file_rate = stereo(path)
    length = file_seconds(path)
    assert abs(length - float(call.duration_seconds)) <= 1.0, (length, call.duration_seconds)
    # The file starts where the call's clock says; the caller's WAV starts with the call (its answer).
    offset = float(stored.started_offset_seconds)
    assert 0.0 <= offset < 1.0

    caller, agent = as_int16(pcm[0]), as_int16(pcm[1])
    caller_side = [segment for segment in speech_segments(caller, file_rate) if segment.duration > 0.3]
    agent_side = [segment for segment in speech_segments(agent, file_rate) if segment.duration > 0.3]
    # The caller's channel carries the caller's lines, where the WAV has them, and nothing else.
    assert len(caller_side) == len(lines), (caller_side, lines)
    # (Their loudness contour is not matched: the recorder places the caller's frames where they reached the
    # worker, and a busy machine bends it; the timing, length and channel of each line are what is checked.)
    for segment, line in zip(caller_side, lines, strict=True):
        assert abs(segment.start - (line.start - offset)) < SLACK, (segment, line, offset)
        assert abs(segment.duration - line.duration) < 0.5, (segment, line)
        left, right = channel_rms(path, start=segment.start + 0.1, end=segment.end - 0.1)
        assert left > LOUD and right < QUIET, (segment, left, right)
    # The agent's channel: the opening before the caller's first line, an answer between the lines, the
    # goodbye after the last, each where the caller heard it, with the caller's channel silent meanwhile.
    assert agent_side[0].start < caller_side[0].start
    assert any(caller_side[0].end < segment.start < caller_side[1].start for segment in agent_side)
    assert agent_side[-1].start > caller_side[-1].end
    for segment in agent_side:
        assert any(abs(segment.start + offset - other.start) < SLACK for other in speech), (segment, speech)
        left, right = channel_rms(path, start=segment.start + 0.1, end=segment.end - 0.1)
        assert right > LOUD and left < QUIET, (segment, left, right)
    # The agent's channel opens with the disclosure, then the greeting, where the caller heard it.
    opening_window = (0.0, caller_side[0].start)
    disclosed_at, disclosure_match = locate(agent, file_rate, disclosure, within=opening_window, voice_rate=AGENT_RATE)
    recorded_greeting_at, greeting_match = locate(agent, file_rate, said[1], within=opening_window,
                                                  voice_rate=AGENT_RATE)
    assert disclosure_match > MATCHES and greeting_match > MATCHES, (disclosure_match, greeting_match)
    assert abs(disclosed_at - agent_side[0].start) < 0.3, (disclosed_at, agent_side)
    assert recorded_greeting_at >= disclosed_at + disclosure_seconds - 0.3, (disclosed_at, recorded_greeting_at)
    assert abs(recorded_greeting_at + offset - greeted_at) < SLACK, (recorded_greeting_at, offset, greeted_at)
