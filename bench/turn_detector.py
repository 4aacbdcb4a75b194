"""The local end-of-turn model's cost (issue 21 item 1): memory to load it, CPU per prediction.

    .venv/bin/python bench/turn_detector.py [--predictions 50]

`livekit.local_inference` (the `livekit-local-inference` wheel; `inference.TurnDetector(version=
"v1-mini")` runs it in process) is loaded the way the forkserver loads it (`init_eot`), then asked
for P(end of turn) on the last 1.2 s of the recorded caller (voiceworker/tests/audio, resampled
to 16 kHz) at several points: mid-sentence, and after the sentence ended. Prints resident memory
before/after the load, CPU and wall time per prediction (one thread, as the session runs it: each
end of the caller's speech is one prediction), and what it predicted.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def caller_pcm_16k() -> tuple[np.ndarray, float, float]:
    from voiceworker.tests.audio import CALLER_SPEECH, CALLER_SPEECH_ENDS, CALLER_SPEECH_STARTS

    with wave.open(str(CALLER_SPEECH)) as recording:
        rate = recording.getframerate()
        pcm = np.frombuffer(recording.readframes(recording.getnframes()), dtype=np.int16)
    # 8 kHz phone audio → 16 kHz, as the room's resampler hands it to the model.
    upsampled = np.interp(np.arange(len(pcm) * 16000 // rate) * rate / 16000, np.arange(len(pcm)), pcm)
    return upsampled.astype(np.int16), CALLER_SPEECH_STARTS, CALLER_SPEECH_ENDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--predictions", type=int, default=50)
    args = parser.parse_args()
    import livekit.local_inference as li

    before = rss_mb()
    began = time.perf_counter()
    li.init_eot()
    load_seconds = time.perf_counter() - began
    after = rss_mb()
    model = li.EOT()
    pcm, starts, ends = caller_pcm_16k()
    window = li.EOT_MAX_SAMPLES

    def ending_at(seconds: float) -> np.ndarray:
        end = int(seconds * 16000)
        return pcm[max(end - window, 0):end]

    points = {"mid-sentence (1.8 s)": 1.8, "mid-sentence (2.6 s)": 2.6, "at the end of the sentence": ends,
              "0.3 s after the end": ends + 0.3, "0.6 s after the end": ends + 0.6}
    predicted = {name: model.predict(ending_at(at)) for name, at in points.items()}
    cpu, wall = [], []
    for index in range(args.predictions):
        sample = ending_at(list(points.values())[index % len(points)])
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        model.predict(sample)
        cpu.append((time.process_time() - cpu_before) * 1000)
        wall.append((time.perf_counter() - wall_before) * 1000)
    print(f"load (init_eot): {load_seconds:.2f} s, resident memory {before:.0f} -> {after:.0f} MB "
          f"(+{after - before:.0f} MB; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print(f"per prediction ({args.predictions}): CPU p50 {statistics.median(cpu):.1f} ms, "
          f"max {max(cpu):.1f} ms; wall p50 {statistics.median(wall):.1f} ms, max {max(wall):.1f} ms")
    for name, probability in predicted.items():
        print(f"P(end of turn) {name}: {probability:.3f}")
    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f"python3 -m timeit \"sum(range(10000))\": {timeit.stdout.strip()}")


if __name__ == "__main__":
    main()
