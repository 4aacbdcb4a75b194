"""Turn-taking on a real line: is a caller who pauses inside an utterance cut off, and how soon is a
finished one answered, with silence-only turn detection (before) and the local end-of-turn model (after).

    SONIQ_TOOLS_DIR=/work/main/.var/tools .venv/bin/python bench/turn_taking.py --calls 3
    SONIQ_TOOLS_DIR=/work/main/.var/tools .venv/bin/python bench/turn_taking.py --calls 2 --only "v1-mini, min_delay 1.3 s"

Starts what `bench/real_call.py` starts (private PostgreSQL/Redis, a bench database, gunicorn, Celery, the
local LiveKit server and SIP bridge, the voice worker, the provider stand-ins), then for each condition
restarts only the voice worker with that condition's environment and places `--calls` calls from a SIP
phone. Each call's caller (espeak-ng, made here) says, after the greeting and each reply, the fixed
`UTTERANCES`: a phone number in groups, an address, "um, let me think", with 0.6–1.5 s pauses inside, and
three complete short answers.

- A cut-off: the first reply audio the caller hears after the utterance starts begins before the
  utterance's end (known from the render). Cut-offs are also counted per inner pause (the pause the
  reply started in).
- End of speech → reply start: the utterance's end → the first reply audio heard, on complete answers
  (and, separately, on the utterances with pauses that were not cut off).
- The voice worker's CPU seconds (the whole process tree: the agent server, its forkserver and job
  processes) per call, and the largest job process's resident memory, per condition.

The speech-to-text stand-in sends a final transcript (`is_final` and `speech_final`) for every stretch of
speech followed by `--stt-endpoint` of silence, carrying that stretch's own words — what Deepgram with
endpointing does at a pause inside an utterance. So the turn is not decided by the transcript's timing but
by the worker's turn detection, and the end-of-turn model sees the words spoken so far ("my number is five
five five"), not the whole sentence. `--stt-endpoint` (0.45 s) is shorter than the shortest inner pause
(0.6 s) so each stretch is one final, and shorter than the turn's own silence, so on a complete answer the
final is in before the turn could end either way.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.real_call import SALON, bench_platform, timeit  # noqa: E402
from devstack.audio import Segment, silence, speak, speak_with_pauses, speech_segments, write_wav  # noqa: E402
from devstack.phone import SipPhone  # noqa: E402
from devstack.processes import voice_worker  # noqa: E402
from devstack.standins import ProviderStandIns, ReceptionistTurns  # noqa: E402

RATE = 8000
# Each utterance: its pieces of speech with the pause (s) after each but the last. None of them names a
# service, a person or "bye", so the model stand-in answers each with one sentence.
UTTERANCES: list[tuple[str, list[str | float]]] = [
    ("phone number", ["My number is", 0.8, "five five five", 1.2, "two one two", 1.0, "four three eight seven."]),
    ("address", ["I live at", 0.6, "four twenty two", 1.1, "Maple Street,", 1.5, "apartment six."]),
    ("hmm, let me think", ["Hmm,", 1.2, "let me think", 0.9, "maybe Thursday afternoon."]),
    ("complete: yes", ["Yes, that works for me."]),
    ("complete: time", ["Thursday at three."]),
    ("complete: no", ["No, thank you, that is everything."]),
]
LEAD_SECONDS = 8.0  # the greeting is over and the echo-cancellation warm-up is past
GAP_SECONDS = 9.0  # a reply after up to 3 s of waiting, and its ~3 s of speech, then the next utterance

CONDITIONS = {
    # What the worker did before the end-of-turn model: Silero's end of speech + 0.5 s, whatever was said.
    "before: vad, 0.5 s": {"VOICE_TURN_DETECTOR": "vad", "VOICE_UNCOVERED_LANGUAGE_SILENCE": "0.5",
                           "VOICE_ENDPOINTING_PATIENT_DELAY": "0"},
    # The local v1-mini model alone (min_delay 0.5 s, max_delay 3.0 s): what it hears in the audio.
    "v1-mini alone": {"VOICE_TURN_DETECTOR": "v1-mini", "VOICE_ENDPOINTING_PATIENT_DELAY": "0"},
    # Today's default: the model, and the words so far (voiceworker/turn_patience.py: a turn ending in
    # "is", "hmm" or a group of digits waits VOICE_ENDPOINTING_PATIENT_DELAY, 2.0 s).
    "after: v1-mini + unfinished words": {"VOICE_TURN_DETECTOR": "v1-mini"},
}


@dataclass
class Spoken:
    name: str
    start: float
    end: float
    pauses: list[tuple[float, float]]  # (start, end) of each inner pause, in the WAV


def render(path: Path, voice: str = "festival") -> tuple[Path, list[Spoken], list[str]]:
    """The caller's WAV, where each utterance and its pauses are in it, and the stand-in's transcripts
    (one per stretch of speech). `festival`: each utterance said as one sentence, its phrase breaks
    stretched to the pauses (`devstack.audio.speak_with_pauses`); `espeak`: each piece said alone."""
    parts, spoken, transcripts, position = [], [], [], 0.0
    for index, (name, pieces) in enumerate(UTTERANCES):
        lead = LEAD_SECONDS if index == 0 else GAP_SECONDS
        parts.append(silence(lead, RATE))
        position += lead
        if voice == "festival":
            speech, where = speak_with_pauses(pieces, rate=RATE)
        else:
            chunks, where, at = [], [], 0.0
            for piece in pieces:
                if isinstance(piece, float):
                    chunks.append(silence(piece, RATE))
                    at += piece
                    continue
                said = speak(piece, rate=RATE)
                # espeak-ng pads its output with silence; trimmed, so a pause is exactly the silence put in.
                inner = speech_segments(said, RATE)
                said = said[int(inner[0].start * RATE):int(inner[-1].end * RATE)]
                chunks.append(said)
                where.append(Segment(at, at + len(said) / RATE))
                at += len(said) / RATE
            speech = np.concatenate(chunks)
        pauses = [(position + a.end, position + b.start) for a, b in itertools.pairwise(where)]
        spoken.append(Spoken(name, round(position + where[0].start, 3), round(position + where[-1].end, 3), pauses))
        transcripts += [piece for piece in pieces if isinstance(piece, str)]
        parts.append(speech)
        position += len(speech) / RATE
    parts.append(silence(20.0, RATE))
    return write_wav(path, np.concatenate(parts), RATE), spoken, transcripts


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of a process and its children (live ones, plus the reaped children's own count), and
    the largest resident set among them (MB)."""
    root = psutil.Process(pid)
    total, largest = 0.0, 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            largest = max(largest, process.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            pass
    return total, largest


def p50(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (n={len(values)})" if values else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3, help="calls per condition")
    parser.add_argument("--first-token", type=float, default=0.2)
    parser.add_argument("--first-audio", type=float, default=0.1)
    parser.add_argument("--stt-endpoint", type=float, default=0.45)
    parser.add_argument("--only", choices=list(CONDITIONS), action="append")
    parser.add_argument("--voice", choices=["festival", "espeak"], default="festival",
                        help="the caller's synthetic voice (festival: a voice trained on a person's speech)")
    args = parser.parse_args()
    print("timeit at start:", timeit(), flush=True)

    standins = ProviderStandIns(first_token_seconds=args.first_token, first_audio_seconds=args.first_audio,
                                endpoint_seconds=args.stt_endpoint, turns=ReceptionistTurns())
    worker = None
    results: dict[str, dict] = {}
    # The voice worker is started per condition, with that condition's settings.
    with bench_platform(standins, start_worker=False) as platform:
        line, env = platform.line, platform.env
        try:
            workdir = Path(tempfile.mkdtemp(prefix="soniq-turns-"))
            wav, spoken, transcripts = render(workdir / "caller.wav", args.voice)
            for utterance in spoken:
                print(f"{utterance.name:18s} {utterance.start:6.2f}–{utterance.end:6.2f} s, pauses "
                      f"{[round(b - a, 2) for a, b in utterance.pauses]}", flush=True)
            number = 0
            for condition, overrides in CONDITIONS.items():
                if args.only and condition not in args.only:
                    continue
                worker = voice_worker({**env, **overrides}, name=f"voice-worker-{len(results)}")
                time.sleep(5)  # the idle job processes are up (and the model loaded in the forkserver)
                cpu_before, _ = tree_cpu(worker.pid)
                found = results[condition] = {"cutoffs": [], "pause_cutoffs": [], "complete": [], "paused": [],
                                              "rss": 0.0, "stt_mismatch": 0}
                for _ in range(args.calls):
                    number += 1
                    caller = f"+1555777{number:04d}"
                    standins.transcripts[:] = transcripts
                    heard_before = len(standins.heard)
                    phone = SipPhone(number=caller, audio=wav).start()
                    try:
                        phone.dial(f"sip:{SALON}@{line.config.sip_address}")
                        phone.wait_event("CALL_ESTABLISHED", timeout=30)
                        deadline = time.monotonic() + spoken[-1].end + 8
                        while time.monotonic() < deadline:
                            found["rss"] = max(found["rss"], tree_cpu(worker.pid)[1])
                            time.sleep(1.0)
                        phone.hang_up()
                        time.sleep(1.0)
                    finally:
                        phone.stop()
                    if len(standins.heard) - heard_before != len(transcripts):
                        found["stt_mismatch"] += 1
                    heard, rate = phone.heard()
                    speech = speech_segments(heard, rate)
                    marks = []
                    for utterance in spoken:
                        reply = next((segment for segment in speech if segment.end > utterance.start + 0.3
                                      and segment.start > utterance.start - 0.2), None)
                        if reply is None:
                            marks.append("none")
                            continue
                        cut = reply.start < utterance.end
                        complete = not utterance.pauses
                        found["cutoffs"].append((utterance.name, cut))
                        for pause_start, pause_end in utterance.pauses:
                            # A reply that starts in (or is triggered by) this pause: before the next piece
                            # began and after the pause started.
                            found["pause_cutoffs"].append((round(pause_end - pause_start, 1),
                                                           pause_start < reply.start < pause_end + 0.3))
                        if not cut:
                            found["complete" if complete else "paused"].append(reply.start - utterance.end)
                        marks.append(f"{'CUT' if cut else ''}{reply.start - utterance.end:+.2f}")
                    print(f"[{condition}] call {caller}: {marks}", flush=True)
                cpu_after, _ = tree_cpu(worker.pid)
                found["cpu_per_call"] = (cpu_after - cpu_before) / args.calls
                worker.stop()
                worker = None
            print("timeit at end:", timeit())
            print(f"stand-ins: model first token {args.first_token * 1000:.0f} ms, voice first audio "
                  f"{args.first_audio * 1000:.0f} ms, STT final after {args.stt_endpoint * 1000:.0f} ms of silence")
            for condition, found in results.items():
                cuts = found["cutoffs"]
                by_pause: dict[float, list[bool]] = {}
                for pause, cut in found["pause_cutoffs"]:
                    by_pause.setdefault(pause, []).append(cut)
                print(f"\n== {condition} ({args.calls} calls)")
                print(f"cut-off: {sum(cut for _, cut in cuts)}/{len(cuts)} utterances; by utterance: "
                      + ", ".join(f"{name} {sum(c for n, c in cuts if n == name)}/{sum(1 for n, _ in cuts if n == name)}"
                                  for name, _ in UTTERANCES))
                print("reply started in a pause of: " + ", ".join(
                    f"{pause:.1f} s {sum(values)}/{len(values)}" for pause, values in sorted(by_pause.items())))
                print(f"end of speech → reply start, complete answers: p50 {p50(found['complete'])}")
                print(f"end of speech → reply start, utterances with pauses not cut off: p50 {p50(found['paused'])}")
                print(f"voice worker CPU per call {found['cpu_per_call']:.2f} s; largest process RSS "
                      f"{found['rss']:.0f} MB; calls whose STT finals did not match the pieces: {found['stt_mismatch']}")
        finally:
            if worker is not None:
                worker.stop()


if __name__ == "__main__":
    main()
