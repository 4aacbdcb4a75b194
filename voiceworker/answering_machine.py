"""Who answered a call the agent placed: a person, a machine (voicemail, a screening service), or
nobody speaking — told from the first speech after the answer, by its length.

A person answering says something short ("Hello?", "Anna speaking") and waits; a voicemail or a
screening service plays a greeting-length monologue ("Hi, you've reached Anna, I can't take your
call right now, please leave a message after the tone"). So: the first speech (Silero VAD, the
worker's own) running past `HUMAN_MAX_SPEECH_SECONDS` is a machine — and then we wait for the
greeting to end (`MACHINE_END_SILENCE_SECONDS` of silence) before speaking, so the message lands
after the tone; a short speech followed by `HUMAN_SILENCE_SECONDS` of silence is a person; no speech
at all within `NO_SPEECH_SECONDS` is "silence" (treated as a person who did not speak first: the
agent says why it calls, and a machine that only beeps records that).

Why not livekit-agents' own `voice.amd.AMD`: it sends every greeting longer than its 2.5 s threshold
to an LLM to classify (a second model call per callback, and one our provider stand-ins cannot
answer), and it runs inside a started session, which would already be answering the greeting.
Its first stage — a short greeting then silence is a human — is this module's rule, with the same
2.5 s threshold. Measured on synthetic greetings and hellos: bench/answering_machine.py,
docs/BENCHMARKS.md.

Times are the audio's own (samples through the VAD), not the wall clock: the bench feeds recorded
audio faster than real time and gets the verdicts a live call would.

Imported by job processes: no Django.
"""
from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import vad as agents_vad

HUMAN_MAX_SPEECH_SECONDS = 2.5
HUMAN_SILENCE_SECONDS = 0.8
MACHINE_END_SILENCE_SECONDS = 1.5
NO_SPEECH_SECONDS = 5.0
# A greeting longer than this is spoken over: the message is left anyway (the tone may not come).
MAX_LISTEN_SECONDS = 30.0


class Answered(enum.StrEnum):
    PERSON = "person"
    MACHINE = "machine"
    SILENCE = "silence"


@dataclass(frozen=True)
class Detection:
    answered: Answered
    # The longest continuous speech heard, and how much audio was listened to (seconds).
    speech_seconds: float
    listened_seconds: float


async def detect(frames: AsyncIterable[rtc.AudioFrame], *, vad: agents_vad.VAD,
                 human_max_speech: float = HUMAN_MAX_SPEECH_SECONDS,
                 human_silence: float = HUMAN_SILENCE_SECONDS,
                 machine_end_silence: float = MACHINE_END_SILENCE_SECONDS,
                 no_speech: float = NO_SPEECH_SECONDS, max_listen: float = MAX_LISTEN_SECONDS) -> Detection:
    """Listen to `frames` (the answered party's audio from the answer on) until the verdict."""
    stream = vad.stream()
    longest = 0.0
    heard_speech = False
    machine = False
    listened = 0.0

    async def feed() -> None:
        async for frame in frames:
            stream.push_frame(frame)
        stream.end_input()

    feeder = asyncio.ensure_future(feed())
    try:
        async for event in stream:
            if event.type != agents_vad.VADEventType.INFERENCE_DONE:
                continue
            listened = event.timestamp
            if event.speaking:
                heard_speech = True
                longest = max(longest, event.speech_duration)
                if event.speech_duration > human_max_speech:
                    machine = True
            elif heard_speech:
                if machine and event.silence_duration >= machine_end_silence:
                    return Detection(Answered.MACHINE, longest, listened)
                if not machine and event.silence_duration >= human_silence:
                    return Detection(Answered.PERSON, longest, listened)
            elif listened >= no_speech:
                return Detection(Answered.SILENCE, 0.0, listened)
            if listened >= max_listen:
                return Detection(Answered.MACHINE if machine else Answered.PERSON, longest, listened)
        # The audio ended (the line closed) before a verdict.
        if machine:
            return Detection(Answered.MACHINE, longest, listened)
        return Detection(Answered.PERSON if heard_speech else Answered.SILENCE, longest, listened)
    finally:
        feeder.cancel()
        await stream.aclose()
