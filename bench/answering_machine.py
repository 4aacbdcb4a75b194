"""How often the worker's answering-machine check (voiceworker/answering_machine.py) tells who answered
a callback: voicemail-style greetings, short hellos of a person, and silence, made here with espeak-ng
(several voices and speeds) at the phone line's 8 kHz and at 16 kHz, with and without line noise.

    .venv/bin/python bench/answering_machine.py

Each case is: 0.3 s of silence (the answer), the speech, then 4 s of silence (a person waiting for
an answer; a voicemail's pause before the tone). A greeting counts as right when it is "machine", a
hello when it is "person", silence when it is "silence". Prints the confusion table, the accuracy
per kind and overall, and how long after the answer each verdict came (audio seconds: on a live line
the same, since the check works on the audio's own clock).
"""
from __future__ import annotations

import asyncio
import collections
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from livekit import rtc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.audio import silence, speak  # noqa: E402
from voiceworker.answering_machine import detect  # noqa: E402

GREETINGS = [
    "Hi, you've reached Anna. I can't take your call right now, please leave a message after the tone.",
    "The person you are calling is not available. Please leave your message after the beep.",
    "Hello, this is Marco's phone. Sorry I missed you, leave your name and number and I'll call you back.",
    "You have reached the voicemail of five five five, zero one four two. Please record your message.",
    "Thanks for calling. Nobody can come to the phone right now. Leave a message and we will get back to you.",
    "Hi, it's Dana. I'm away from my desk, leave a message and I will return your call as soon as I can.",
    "Please state your name and the reason for your call, and I will see if this person is available.",
    "Welcome to the voice mailbox of Jordan Smith. I'm out of the office until Monday. Please leave a message.",
]
HELLOS = ["Hello?", "Hi, this is Anna.", "Yes?", "Hello, who's calling?", "Marco speaking.", "Hi.",
          "Hello, Dana here.", "Yeah, hello?"]
# Harder, reported apart: greetings with a pause after the name (as people record them), and people
# who answer at length.
GREETINGS_WITH_PAUSE = [
    ("Hi, it's Anna.", 0.7, "I can't take your call right now, please leave a message after the tone."),
    ("Hello.", 0.9, "You've reached Marco. Leave your name and number and I'll call you back."),
    ("Bella Hair Studio, Dana's phone.", 0.6, "Sorry I missed you, please leave a message."),
]
LONG_HELLOS = ["Hello, yes, this is Anna speaking, who is calling please?",
               "Hi, sorry, I was just in the car, who is this?"]
VOICES = [("en-us", 165), ("en", 150), ("en-us+f3", 180)]
RATES = [8000, 16000]


def case_audio(text, *, rate: int, voice: str, speed: int, noise: bool, seed: int) -> np.ndarray:
    if isinstance(text, tuple):
        first, pause, rest = text
        speech = np.concatenate([speak(first, rate=rate, voice=voice, speed=speed), silence(pause, rate),
                                 speak(rest, rate=rate, voice=voice, speed=speed)])
    else:
        speech = speak(text, rate=rate, voice=voice, speed=speed) if text else silence(1.0, rate)
    samples = np.concatenate([silence(0.3, rate), speech, silence(4.0, rate)]).astype(np.float64)
    if noise:
        # A phone line's hiss, about -50 dBFS.
        samples += np.random.default_rng(seed).normal(0, 100, len(samples))
    return np.clip(samples, -32768, 32767).astype(np.int16)


async def frames_of(samples: np.ndarray, rate: int):
    step = rate // 50  # 20 ms, as LiveKit delivers them
    for start in range(0, len(samples), step):
        chunk = samples[start:start + step]
        yield rtc.AudioFrame(data=chunk.tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=len(chunk))


async def run() -> None:
    from livekit.plugins import silero

    vad = silero.VAD.load()
    cases = ([("machine", text) for text in GREETINGS] + [("person", text) for text in HELLOS] + [("silence", None)] * 2
             + [("machine, pause after the name", text) for text in GREETINGS_WITH_PAUSE]
             + [("person, long answer", text) for text in LONG_HELLOS])
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    delays: dict[str, list[float]] = collections.defaultdict(list)
    wrong: list[str] = []
    seed = 0
    for rate in RATES:
        for noise in (False, True):
            for voice, speed in VOICES:
                for expected, text in cases:
                    seed += 1
                    samples = case_audio(text, rate=rate, voice=voice, speed=speed, noise=noise, seed=seed)
                    detection = await detect(frames_of(samples, rate), vad=vad)
                    table[expected][detection.answered.value] += 1
                    delays[expected].append(detection.listened_seconds - 0.3)
                    if detection.answered.value != expected.split(",")[0]:
                        wrong.append(f"{expected} heard as {detection.answered.value}: {text!r} ({voice}, {speed} wpm, "
                                     f"{rate} Hz{', noise' if noise else ''}; speech {detection.speech_seconds:.1f} s)")
    kinds = ["machine", "person", "silence", "machine, pause after the name", "person, long answer"]
    print("| Answered by | n | → machine | → person | → silence | Accuracy | Verdict after the answer, median (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    right = total = 0
    for kind in kinds:
        row = table[kind]
        n = sum(row.values())
        correct = row[kind.split(",")[0]]
        if "," not in kind:
            right += correct
            total += n
        print(f"| {kind} | {n} | {row['machine']} | {row['person']} | {row['silence']} | {correct / n:.1%} | "
              f"{statistics.median(delays[kind]):.1f} |")
    print(f"\nOverall (greetings, hellos, silence): {right}/{total} = {right / total:.1%}")
    for line in wrong:
        print("  wrong:", line)


def main() -> None:
    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f'python3 -m timeit "sum(range(10000))": {timeit.stdout.strip()}\n', flush=True)
    asyncio.run(run())


if __name__ == "__main__":
    main()
