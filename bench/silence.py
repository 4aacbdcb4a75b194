"""The longest silence a caller hears, per failure scenario of the voice worker.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/silence.py [--runs 3]

It runs the scenarios of voiceworker/tests/test_failure_paths.py (the real AgentSession, the real
openai.LLM against a local OpenAI-compatible endpoint that answers 429 or hangs, the real
livekit-api client against a local Twirp endpoint, the real internal API) `--runs` times, and
prints, per scenario, the longest stretch in which the caller, still on the line, heard nothing:
from their last word (or the end of the agent's audio) to the next audio or the hang-up. A stretch
the caller ended themselves (they spoke or left) is their turn, not dead air; while a transfer
rings they hear the SIP side's dial tone, so that time is left out.

The voice is a stand-in that answers at once (a real TTS adds its time to first byte, ~0.1-0.3 s
for Cartesia, to every figure that ends in audio); the audio plays in real time.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = collections.defaultdict(list)
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "silence.jsonl"
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs} ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:warnings",
                            "voiceworker/tests/test_failure_paths.py"], cwd=ROOT, check=True,
                           env={**os.environ, "SONIQ_SILENCE_REPORT": str(report)}, stdout=subprocess.DEVNULL)
        for line in report.read_text().splitlines():
            entry = json.loads(line)
            figures[entry["scenario"]].append(entry["seconds"])
            notes[entry["scenario"]] = entry["note"]
    print(f"| Scenario | Longest silence, worst of {args.runs} runs (s) | Median (s) | Note |")
    print("|---|---:|---:|---|")
    for scenario in sorted(figures, key=lambda name: (int(name.split(".")[0].split("/")[0]), name)):
        values = sorted(figures[scenario])
        print(f"| {scenario} | {values[-1]:.2f} | {values[len(values) // 2]:.2f} | {notes[scenario]} |")


if __name__ == "__main__":
    main()
