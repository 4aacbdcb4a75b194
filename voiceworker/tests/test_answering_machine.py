"""Who answered a callback, from the first speech after the answer (espeak-ng audio made here, fed as the
room delivers it): a greeting-length monologue is a machine, a short "hello?" then silence a person,
nothing at all silence. The accuracy on a wider set is bench/answering_machine.py's."""
import asyncio

import numpy as np
import pytest
from livekit import rtc
from livekit.plugins import silero

from devstack.audio import silence, speak
from voiceworker.answering_machine import Answered, detect

RATE = 8000


@pytest.fixture(scope="module")
def vad():
    return silero.VAD.load()


async def frames(samples: np.ndarray):
    for start in range(0, len(samples), RATE // 50):
        chunk = samples[start:start + RATE // 50]
        yield rtc.AudioFrame(data=chunk.tobytes(), sample_rate=RATE, num_channels=1, samples_per_channel=len(chunk))


def answered_by(text: str | None, vad) -> Answered:
    speech = speak(text, rate=RATE) if text else silence(1.0, RATE)
    samples = np.concatenate([silence(0.3, RATE), speech, silence(4.0, RATE)])
    return asyncio.run(detect(frames(samples), vad=vad)).answered


def test_it_takes_a_voicemail_greeting_for_a_machine(vad):
    assert answered_by("Hi, you've reached Anna. I can't take your call right now, please leave a message after "
                       "the tone.", vad) is Answered.MACHINE


def test_it_takes_a_short_hello_for_a_person(vad):
    assert answered_by("Hello?", vad) is Answered.PERSON


def test_it_says_silence_when_nobody_speaks(vad):
    assert answered_by(None, vad) is Answered.SILENCE
