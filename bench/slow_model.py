"""What a caller hears, and when, while the model is slow or failing (issue 21 item 5).

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/slow_model.py [--runs 2]

Runs voiceworker/tests/test_slow_model.py (the real AgentSession and openai.LLM against a local
OpenAI-compatible endpoint whose first token comes at 0.5, 2, 4 or 8 s, or which answers 500; the
real internal API) `--runs` times, and prints per scenario each sentence the caller heard with the
seconds after their words it was handed to the voice, and the longest silence (worst run). The
voice stand-in answers at once; a real TTS adds its time to first byte (~0.1-0.3 s) to each.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "slow_model.jsonl"
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs} ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:warnings",
                            "voiceworker/tests/test_slow_model.py"], cwd=ROOT, check=True,
                           env={**os.environ, "SONIQ_SLOW_MODEL_REPORT": str(report)}, stdout=subprocess.DEVNULL)
        for line in report.read_text().splitlines():
            entry = json.loads(line)
            runs[entry["scenario"]].append(entry)
    print(f"| Model stand-in | What the caller hears (s after their words; first of {args.runs} runs) "
          f"| Longest silence, worst run (s) |")
    print("|---|---|---:|")
    for scenario, entries in runs.items():
        heard = "; ".join(f"{at:.1f}: “{text}”" for at, text in entries[0]["heard"])
        print(f"| {scenario} | {heard} | {max(entry['longest_silence'] for entry in entries):.2f} |")
    print()
    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f"python3 -m timeit \"sum(range(10000))\": {timeit.stdout.strip()}")


if __name__ == "__main__":
    main()
