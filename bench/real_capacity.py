"""Calls per core through the real media path: N concurrent SIP calls into the production worker.

    .venv/bin/python bench/real_capacity.py --counts 1,2,4,6,8,10,12 --profile 20 --profile-at 2
    .venv/bin/python bench/real_capacity.py --counts 2 --min-turns 12 \
        --variant monitor:VOICE_LOOP_BLOCK_WARN_MS=100 --variant off:VOICE_LOOP_BLOCK_WARN_MS=0   # A/B

Starts what bench/real_call.py starts (a private PostgreSQL and Redis, a bench database, gunicorn,
Celery, the local LiveKit server and SIP bridge with the trunk from `sip_sync`, the production voice
worker) with the provider stand-ins at fixed delays. For each N it places N calls at once, each from its
own SIP phone (baresip) playing a caller who asks plain questions with pauses between them (no booking,
no transfer, no goodbye: the model stand-in answers each with a sentence), enough lines that the N calls
together make ≥ `--min-turns` turns; then the caller hangs up. Per N, printed:

- the CPU per call-second (CPU time over the round ÷ the calls' summed duration) of the worker's job
  processes, of its main process (with the forkserver and any other helper it started), of the LiveKit
  server and of the SIP bridge — psutil over each process tree, sampled every second;
- the marginal PSS per call: the worker tree's PSS with N calls up (sampled in the middle of the round)
  minus its PSS idle before the round, ÷ N;
- the turn (the caller's end of speech → the reply's first audio at the caller) and our share of it, p50
  and p95: the turn minus the framework's end-of-utterance delay (that turn's, from the worker's debug
  log: the caller's last speech → "user turn committed") and minus the stand-ins' configured delays and
  the voice stand-in's synthesis time;
- failed calls (not answered, hung up by the far end, or a line without a reply before the next).

- the idle job processes' CPU (sampled for `--idle-seconds` before the first call) and the job
  processes' CPU per call-second less it;
- the final transcript → the model request's arrival at the stand-in (the framework asks the model on
  the final transcript: this is the SDK's and our code's time per request), from the debug log.

The first N whose p95 of our share passes 50 ms or where a call fails is named at the end; no larger N
is run once half the calls of a round failed. `--variant "name:SETTING=value,…"` (repeatable) runs
the rounds once per variant, each with its own worker started with those settings, back to back
on the same stack: the A/B of a lever. Every figure
is printed with the machine's `python3 -m timeit "sum(range(10000))"` at start and end.

`--profile SECONDS` records one job process with py-spy (`py-spy record --pid`, collapsed
stacks of the samples on CPU) during the round of `--profile-at` calls.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.real_call import SALON, bench_platform, timeit  # noqa: E402
from devstack.audio import Script, Segment, speech_segments  # noqa: E402
from devstack.livekit import LocalLine  # noqa: E402
from devstack.phone import SipPhone  # noqa: E402
from devstack.processes import ChildProcess, voice_worker  # noqa: E402
from devstack.standins import ProviderStandIns, ReceptionistTurns  # noqa: E402

# Plain questions: none names the service or asks to book, for a person, or says goodbye, so the model
# stand-in answers each with one sentence and the call goes on as long as the caller does.
QUESTIONS = ["What time do you open on Saturday?", "Do you have parking nearby?",
             "Is the salon close to the train station?", "How long does a color treatment take?",
             "Do you take credit cards?", "Are you open on public holidays?",
             "Can I bring my little daughter along?", "Do you sell hair products too?",
             "Is there a waiting area inside?", "How early should I arrive?"]
PAUSE_SECONDS = 5.5  # after each reply starts: the endpointing, the reply ("Is there anything else…") and air


def committed_turns(log: str, caller: str) -> list[tuple[float, float]]:
    """(the caller's last speech, the turn committed), wall-clock seconds, per turn of the call, from
    the worker's debug log ("user turn committed")."""
    found = []
    for line in log.splitlines():
        if '"user turn committed"' not in line or caller not in line:
            continue
        try:
            record = json.loads(line)
            committed = dt.datetime.fromisoformat(record["timestamp"]).timestamp()
            found.append((float(record["last_speaking_time"]), committed))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def transcript_times(log: str, caller: str) -> list[float]:
    """When the job received each final transcript of the call (wall-clock seconds), from the worker's
    debug log ("received user transcript"; the room's name carries the caller's number)."""
    found = []
    for line in log.splitlines():
        if '"received user transcript"' not in line or caller not in line:
            continue
        try:
            found.append(dt.datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp())
        except (ValueError, KeyError, TypeError):
            continue
    return found


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class TreeSampler:
    """CPU time of process trees by role, sampled every second so processes that come and go count."""

    roots: dict[str, int]  # role → root pid
    classify: object = None  # (role, process) → role of that process
    seen: dict[int, tuple[str, float, float]] = field(default_factory=dict)  # pid → (role, first cpu, last cpu)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _walk(self):
        for role, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                yield role, root
                for child in root.children(recursive=True):
                    yield (self.classify(role, child) if self.classify else role), child
            except psutil.Error:
                continue

    def sample(self) -> None:
        for role, process in self._walk():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            # Not children_*: the forkserver reaps the job processes, so theirs would count twice.
            total = times.user + times.system
            if process.pid in self.seen:
                first_role, first, _ = self.seen[process.pid]
                self.seen[process.pid] = (first_role if first_role == role else role, first, total)
            else:
                # A process born during the round counts from zero; one alive before from now.
                born_inside = process.create_time() > self.started_wall
                self.seen[process.pid] = (role, 0.0 if born_inside else total, total)

    def start(self) -> TreeSampler:
        self.started_wall = time.time()
        self.sample()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self.sample()
        spent: dict[str, float] = {}
        for role, first, last in self.seen.values():
            spent[role] = spent.get(role, 0.0) + max(0.0, last - first)
        return spent


def tree_pss(pid: int) -> tuple[float, dict[int, float]]:
    """PSS of a process tree in MB, and per process."""
    per: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                per[process.pid] = process.memory_full_info().pss / 2**20
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return sum(per.values()), per


@dataclass
class Call:
    phone: SipPhone
    caller: str
    lines: list[Segment]
    length: float  # the caller's WAV without its tail
    established_at: float = 0.0
    ended_at: float = 0.0
    failure: str = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,2,4,6,8,10,12", help="concurrent calls per round")
    parser.add_argument("--min-turns", type=int, default=30, help="turns per round, all calls together")
    parser.add_argument("--min-lines", type=int, default=6, help="caller lines per call at least")
    parser.add_argument("--first-token", type=float, default=0.2, help="the model stand-in's first-token delay (s)")
    parser.add_argument("--first-audio", type=float, default=0.1, help="the voice stand-in's first-audio delay (s)")
    parser.add_argument("--profile", type=float, default=0.0,
                        help="py-spy a job process for this many seconds in the round of --profile-at calls")
    parser.add_argument("--profile-at", type=int, default=4)
    parser.add_argument("--variant", action="append", default=[],
                        help='"name:SETTING=value,…": a worker with these settings (repeat to compare, back to back)')
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="how long the idle job processes are sampled")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "soniq-real-capacity"))
    args = parser.parse_args()
    # A stopped bench (SIGTERM) still stops every process it started (the `finally`s below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    counts = [int(n) for n in args.counts.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("timeit at start:", timeit(), flush=True)
    print(f"cores: {psutil.cpu_count()}, load average at start: {os.getloadavg()}", flush=True)

    standins = ProviderStandIns(first_token_seconds=args.first_token, first_audio_seconds=args.first_audio,
                                turns=ReceptionistTurns(goodbye_outcome="booked"))
    variants = [parse_variant(text) for text in args.variant] or [("as configured", {})]
    # The bench finds where the worker stops keeping up; its own limit must not stop it first.
    with bench_platform(standins, start_worker=False) as platform:
        line, database_url = platform.line, platform.database_url
        standins.transcripts[:] = QUESTIONS * 10
        pids = line.pids()
        tables = []
        for number, (name, overrides) in enumerate(variants):
            # Each variant its own worker, started with its settings, after the previous one stopped.
            worker = voice_worker({**platform.env, "VOICE_MAX_CALLS": str(max(counts) * 2), **overrides},
                                  name=f"voice-worker-{number}")
            try:
                print(f"--- variant {name!r}: {overrides or 'the settings as they are'}", flush=True)
                tables.append((name, run_variant(counts, line=line, standins=standins, worker=worker, pids=pids,
                                                 database_url=database_url, args=args, out=out, number=number)))
            finally:
                worker.stop()
        print("timeit at end:", timeit(), flush=True)
        print(f"load average at end: {os.getloadavg()}")
        print(f"stand-in delays: model first token {args.first_token * 1000:.0f} ms, voice first audio "
              f"{args.first_audio * 1000:.0f} ms, speech-to-text endpointing {standins.endpoint_seconds * 1000:.0f} ms")
        for name, results in tables:
            print_table(name, results, counts)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """"name:KEY=value,KEY=value" → the worker's extra settings for that variant."""
    name, _, assignments = text.partition(":")
    overrides = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return name, overrides


def run_variant(counts: list[int], *, line: LocalLine, standins: ProviderStandIns, worker: ChildProcess,
                pids: dict[str, int], database_url: str, args, out: Path, number: int) -> list[dict]:
    def classify(role: str, process: psutil.Process) -> str:
        if role != "worker":
            return role
        # The job processes are the forkserver's children (a call each, or idle and waiting for
        # one); the main process's own children are the forkserver and the resource tracker.
        try:
            return "worker" if process.ppid() == worker.pid else "jobs"
        except psutil.Error:
            return "jobs"

    time.sleep(5)  # the idle job processes are up
    # What the idle job processes cost with no call at all: spread over the calls in the rounds below.
    idle = TreeSampler({"worker": worker.pid}, classify=classify).start()
    time.sleep(args.idle_seconds)
    idle_jobs = idle.stop().get("jobs", 0.0) * 1000 / args.idle_seconds
    print(f"idle job processes: {idle_jobs:.1f} ms of CPU per second, all together", flush=True)
    # One call first, not counted: the caller's lines and the replies are synthesised and cached.
    rounds = [(0, 2), *[(n, max(args.min_lines, math.ceil(args.min_turns / n))) for n in counts]]
    results = []
    for number_of_calls, lines_per_call in rounds:
        result = run_round(number_of_calls or 1, lines_per_call, warmup=number_of_calls == 0, line=line,
                           standins=standins, worker=worker, pids=pids, classify=classify,
                           database_url=database_url, args=args, out=out, variant=number,
                           profile=args.profile if number_of_calls == args.profile_at else 0.0)
        result["idle_jobs"] = idle_jobs
        results.append(result)
        if number_of_calls and len(result["failed"]) * 2 >= number_of_calls:
            print(f"half the calls or more failed at N={number_of_calls}: no larger N", flush=True)
            break
    return results


def print_table(name: str, results: list[dict], counts: list[int]) -> None:
    print(f"=== {name}")
    header = ("N  turns  call-s  jobs ms/call-s  worker ms/call-s  server ms/call-s  bridge ms/call-s  "
              "PSS MB/call  turn p50/p95 ms  ours p50/p95 ms  failed")
    print(header)
    first_bad = first_added = None
    base = results[1]["ours_p95"]
    for result in results[1:]:
        print(result["row"])
        print("   ", result["split"])
        # The idle job processes (waiting for the next call) run all along: what is left is the calls'.
        net = (result["jobs_cpu"] - result["idle_jobs"] / 1000 * result["wall"]) * 1000 / result["call_seconds"]
        print(f"    jobs less the idle processes' {result['idle_jobs']:.1f} ms/s: {net:.1f} ms/call-s")
        if first_bad is None and (result["failed"] or result["ours_p95"] > 50):
            first_bad = result["n"]
        if first_added is None and (result["failed"] or result["ours_p95"] > base + 50):
            first_added = result["n"]
    top = "none up to " + str(max(counts))
    print(f"first N with our p95 > 50 ms or a failed call: {first_bad or top}")
    print(f"first N with our p95 > 50 ms above one call's ({base:.0f} ms) or a failed call: {first_added or top}")


def run_round(n: int, lines_per_call: int, *, warmup: bool, line: LocalLine, standins: ProviderStandIns,
              worker: ChildProcess, pids: dict[str, int], classify, database_url: str, args, out: Path,
              profile: float, variant: int = 0) -> dict:
    time.sleep(3)  # the previous round's jobs wind down
    idle_pss, _ = tree_pss(worker.pid)
    calls: list[Call] = []
    for index in range(n):
        caller = f"+1555{699 if warmup else 700 + n:03d}{variant:02d}{index:02d}"
        # The speech-to-text stand-in hears each connection's utterances as the same list in order.
        script = [(PAUSE_SECONDS if k else 4.0, QUESTIONS[k % len(QUESTIONS)]) for k in range(lines_per_call)]
        wav, lines = Script(script, tail_seconds=6.0).render(out / f"caller-{n}-{index}.wav")
        calls.append(Call(SipPhone(number=caller, audio=wav), caller, lines, lines[-1].end + 4.0))
    try:
        return _run_round(n, calls, warmup=warmup, line=line, standins=standins, worker=worker, pids=pids,
                          classify=classify, database_url=database_url, args=args, out=out, profile=profile,
                          idle_pss=idle_pss)
    finally:
        for call in calls:
            call.phone.stop()


def _run_round(n: int, calls: list[Call], *, warmup: bool, line: LocalLine, standins: ProviderStandIns,
               worker: ChildProcess, pids: dict[str, int], classify, database_url: str, args, out: Path,
               profile: float, idle_pss: float) -> dict:
    sampler = TreeSampler({"worker": worker.pid, "server": pids["server"], "bridge": pids["sip"]},
                          classify=classify).start()
    synthesis_from = len(standins.synthesis)
    requests_from = len(standins.chat_times)
    for call in calls:
        call.phone.start()
    for call in calls:
        call.phone.dial(f"sip:{SALON}@{line.config.sip_address}")
        time.sleep(0.4)  # calls arrive spread a little, as on a line; their turns do not fall in step
    for call in calls:
        try:
            event = call.phone.wait_event("CALL_ESTABLISHED", timeout=40)
            call.established_at = event["at"]
        except AssertionError:
            call.failure = "not answered"
    profiler = None
    live = [call for call in calls if call.established_at]
    if live:
        time.sleep(max(0.0, min(call.established_at + call.length / 2 for call in live) - time.monotonic()))
    peak_pss, _ = tree_pss(worker.pid)
    if profile:
        profiler = start_profiler(worker.pid, profile, out / f"job-{n}")
    for call in sorted(live, key=lambda c: c.established_at + c.length):
        time.sleep(max(0.0, call.established_at + call.length - time.monotonic()))
        if call.phone.received("BYE"):
            call.failure = "hung up by the far end"
        call.ended_at = time.monotonic()
        call.phone.stop()  # SIGTERM: baresip sends BYE
    spent = sampler.stop()
    if profiler is not None:
        profiler.wait()
    synthesis = [took for _, took in standins.synthesis[synthesis_from:]]
    synth = statistics.median(synthesis) if synthesis else 0.0
    # Each model request is the call's: the instructions say "The caller is calling from +1…".
    requests: dict[str, list[float]] = {}
    for at, body in zip(standins.chat_times[requests_from:], standins.chat_requests[requests_from:], strict=True):
        found = re.search(r"calling from (\+\d+)", json.dumps(body.get("messages") or []))
        requests.setdefault(found.group(1) if found else "", []).append(at)
    wall_offset = time.time() - time.monotonic()
    turns, ours, before_request, transcript_to_request = [], [], [], []
    for call in live:
        # The framework asks the model as soon as the transcript is final (preemptive generation): from
        # that moment to the request's arrival at the model stand-in is the SDK's and our code's time.
        finals = transcript_times(worker.log(), call.caller)
        for at in requests.get(call.caller, []):
            arrived = at + (time.time() - time.monotonic())
            previous = [final for final in finals if 0 <= arrived - final < 2.0]
            if previous:
                transcript_to_request.append(arrived - max(previous))
        heard, rate = call.phone.heard()
        speech = speech_segments(heard, rate)
        media_at = call.phone.received(200)[0].at  # the recording and the caller's WAV start with the media
        # The end-of-turn model makes the framework's delay per turn bimodal (its minimum when the words
        # sound finished, its maximum when not), so the call's average would not do: each turn's own.
        commits = committed_turns(worker.log(), call.caller)
        for index, spoken in enumerate(call.lines):
            following = call.lines[index + 1].start if index + 1 < len(call.lines) else call.length
            reply = next((s for s in speech if spoken.end < s.start < following), None)
            if reply is None:
                call.failure = call.failure or f"no reply to line {index + 1}"
                continue
            turn = reply.start - spoken.end
            turns.append(turn)
            ended_wall = media_at + spoken.end + wall_offset
            eou = next((committed - last for last, committed in commits if abs(last - ended_wall) < 0.6), None)
            if eou is None:
                continue
            ours.append(turn - eou - args.first_token - args.first_audio - synth)
            # Where the first model request leaves: with the end-of-turn model the framework asks the model
            # as soon as the transcript is final (preemptive generation) and plays the answer only once
            # the turn is committed, so this is the STT's endpointing plus the SDK's time, not a share.
            ended, heard_at = media_at + spoken.end, media_at + reply.start
            first = next((at for at in requests.get(call.caller, []) if ended < at < heard_at), None)
            if first is not None:
                before_request.append(first - ended)
    call_seconds = sum(call.ended_at - call.established_at for call in live)
    failed = [f"{call.caller}: {call.failure}" for call in calls if call.failure]

    def per_call_second(role: str) -> float:
        return spent.get(role, 0.0) * 1000 / call_seconds if call_seconds else float("nan")

    def pct(values: list[float], fraction: float) -> float:
        return percentile(values, fraction) * 1000 if values else float("nan")

    result = {"n": n, "failed": failed, "ours_p95": pct(ours, 0.95), "jobs_cpu": spent.get("jobs", 0.0),
              "wall": time.time() - sampler.started_wall, "call_seconds": call_seconds,
              "split": f"end of speech → first model request p50/p95 {pct(before_request, .5):.0f}/"
                       f"{pct(before_request, .95):.0f} ms (n={len(before_request)}; the STT stand-in's "
                       f"endpointing is {standins.endpoint_seconds * 1000:.0f} ms of it); final transcript → the "
                       f"request at the model stand-in p50/p95 {pct(transcript_to_request, .5):.1f}/"
                       f"{pct(transcript_to_request, .95):.1f} ms (n={len(transcript_to_request)})"}
    result["row"] = (f"{n:<3d}{len(turns):5d}  {call_seconds:6.0f}  {per_call_second('jobs'):14.1f}  "
                     f"{per_call_second('worker'):16.1f}  {per_call_second('server'):16.1f}  "
                     f"{per_call_second('bridge'):16.1f}  {(peak_pss - idle_pss) / n:11.1f}  "
                     f"{pct(turns, .5):6.0f}/{pct(turns, .95):5.0f}  {pct(ours, .5):6.0f}/{pct(ours, .95):5.0f}  "
                     f"{len(failed)}")
    label = "warm-up" if warmup else f"N={n}"
    print(f"{label}: {result['row']}  (idle PSS {idle_pss:.0f} MB, with calls {peak_pss:.0f} MB, "
          f"synthesis median {synth * 1000:.0f} ms)\n  {result['split']}", flush=True)
    for failure in failed:
        print("  failed:", failure, flush=True)
    return result


def start_profiler(worker_pid: int, seconds: float, stem: Path) -> subprocess.Popen | None:
    """py-spy on the busiest job process (the one with the most CPU time so far)."""
    children = [child for child in psutil.Process(worker_pid).children(recursive=True)]
    busiest = max(children, key=lambda p: sum(p.cpu_times()[:2]) if p.is_running() else 0, default=None)
    if busiest is None:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    print(f"profiling pid {busiest.pid} for {seconds:.0f} s → {stem}.txt (collapsed stacks)", flush=True)
    return subprocess.Popen([str(py_spy), "record", "--pid", str(busiest.pid), "--duration", str(int(seconds)),
                             "--rate", "100", "--format", "raw", "--output", f"{stem}.txt", "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    main()
