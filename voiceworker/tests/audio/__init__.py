"""Recorded audio for the tests and bench/call_start.py.

`caller_8khz.wav`: a caller saying "Hi, I'd like to book a haircut, please." (espeak-ng, resampled
to 8 kHz as a phone line carries it), 0.8 s of silence before, 1.6 s after.
"""
from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

from livekit import rtc

CALLER_SPEECH = Path(__file__).with_name("caller_8khz.wav")
CALLER_SPEECH_STARTS, CALLER_SPEECH_ENDS = 0.81, 3.30  # seconds into the file


def wav_frames(path: Path = CALLER_SPEECH, *, frame_ms: int = 20) -> Iterator[rtc.AudioFrame]:
    """The file as the room would deliver it: mono 16-bit frames of `frame_ms`."""
    with wave.open(str(path)) as recording:
        rate = recording.getframerate()
        samples_per_frame = rate * frame_ms // 1000
        while chunk := recording.readframes(samples_per_frame):
            yield rtc.AudioFrame(chunk, rate, 1, len(chunk) // 2)
