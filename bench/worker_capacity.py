"""How many concurrent calls one voice worker carries before callers notice.

    .venv/bin/python bench/worker_capacity.py [--calls 1,2,4,8,16] [--executor process|thread] [--seconds 30]

Needs DATABASE_URL and REDIS_URL of your own (a bench database, default `soniq_capacity_bench`, is
created next to DATABASE_URL's, migrated, seeded and dropped at the end). The internal API runs on
gunicorn (gthread 2x4, DEBUG off), as in bench/call_start.py.

For each N: the production `build_server()` (forkserver, preloads, prewarm; or livekit's
JobExecutorType.THREAD with --executor thread) gets N simulated jobs to the salon's number. Each job
runs the real entrypoint: `POST /internal/calls/start`, the real session from `build_session`
(`turn_handling(config)`: since issue 21 the local end-of-turn model for covered languages — the
figures in docs/BENCHMARKS.md predate it — 0.5 s minimum endpointing delay, the prewarmed Silero VAD), the
real `SoniqAgent` and greeting. Only the providers and the room's audio are stand-ins:
- the caller: a recorded caller (voiceworker/tests/audio, 8 kHz, "Hi, I'd like to book a haircut,
  please.") on a loop with 2.5 s of silence after, delivered in real time, 20 ms frames, as the
  session's audio input: every frame goes through the real VAD and turn handling;
- STT: a streaming stand-in that sends the final transcript STT_DELAY after the speech in the
  recording ends (the audio position it has been fed), as a streaming STT does;
- LLM: the real OpenAI plugin against a local OpenAI-compatible streaming endpoint that answers
  after LLM_TTFT ("Sure, what day would suit you?"; no tool calls);
- TTS: a streaming stand-in that answers TTS_TTFB after the first text with 1.2 s of audio,
  played out in real time by a paced audio output (so the agent is "speaking" as long as a real reply).
Figures per N, over the measured window (after every call has greeted and one loop has passed):
- our code's added latency per turn: (1) the end of the caller's speech (the moment the input
  delivered the recording's last speech frame) plus STT_DELAY, i.e. when the final transcript is
  out, to the turn's first LLM request leaving the job process (livekit 1.8 starts the reply on the
  final transcript, before the endpointing delay has passed: preemptive generation); (2) the LLM's
  first token leaving the local endpoint to the first text reaching the TTS. p50/p95 over all turns
  of all calls in the window;
- CPU per call-second: CPU time of the job processes (thread: the worker process) over the window,
  divided by N x window;
- memory: per job process PSS and USS (process executor; thread: the worker process's growth per call).
Clocks: time.perf_counter (CLOCK_MONOTONIC, shared by every process on Linux).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SALON_NUMBER = "+15550100001"
MB = 2**20
STT_DELAY = 0.25
LLM_TTFT = 0.35
TTS_TTFB = 0.15
REPLY_SECONDS = 1.2
TRAILING_SILENCE = 2.5
REPORT_DIR = "SONIQ_BENCH_REPORT_DIR"
REPLY = "Sure, what day would suit you?"


# --- in the job process ---------------------------------------------------------------------------

def stand_ins(marks: dict):
    from livekit import rtc
    from livekit.agents import stt, tts, utils
    from livekit.agents.voice import io

    from voiceworker.tests.audio import CALLER_SPEECH_ENDS, CALLER_SPEECH_STARTS, wav_frames

    frames = list(wav_frames())
    rate = frames[0].sample_rate
    silence = rtc.AudioFrame(b"\0\0" * (rate // 50), rate, 1, rate // 50)
    loop_frames = frames + [silence] * int(TRAILING_SILENCE / 0.02)
    loop_seconds = len(loop_frames) * 0.02

    class LoopingCaller(io.AudioInput):
        def __init__(self) -> None:
            super().__init__(label="bench caller")
            self._index = 0
            self._due: float | None = None
            self._speech_end_frame = int(CALLER_SPEECH_ENDS / 0.02)

        async def __anext__(self) -> rtc.AudioFrame:
            now = time.perf_counter()
            if self._due is None:
                self._due = now
            if self._due > now:
                await asyncio.sleep(self._due - now)
            position = self._index % len(loop_frames)
            if position == self._speech_end_frame:
                marks["speech_end"].append(time.perf_counter())
            self._index += 1
            self._due += 0.02
            return loop_frames[position]

    class TimedSTT(stt.STT):
        def __init__(self) -> None:
            super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))

        async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
            raise NotImplementedError

        def stream(self, *, language=None, conn_options=None, **kwargs):
            from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
            return _TimedStream(stt=self, conn_options=conn_options or DEFAULT_API_CONNECT_OPTIONS)

    class _TimedStream(stt.RecognizeStream):
        async def _run(self) -> None:
            heard, spoke, final_at = 0.0, False, None
            text = "Hi, I'd like to book a haircut, please."
            async for item in self._input_ch:
                if not isinstance(item, rtc.AudioFrame):
                    continue
                heard += item.samples_per_channel / item.sample_rate
                position = heard % loop_seconds
                if position < CALLER_SPEECH_STARTS:
                    final_at = None  # a new loop of the recording
                if not spoke and final_at is None and CALLER_SPEECH_STARTS <= position < CALLER_SPEECH_ENDS:
                    spoke = True
                    self._event_ch.send_nowait(stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH))
                    self._event_ch.send_nowait(stt.SpeechEvent(
                        type=stt.SpeechEventType.INTERIM_TRANSCRIPT, alternatives=[stt.SpeechData(language="en", text="Hi")]))
                elif spoke and position >= CALLER_SPEECH_ENDS and final_at is None:
                    # The provider's answer arrives STT_DELAY after the speech ends, whatever the frames do.
                    final_at = asyncio.get_running_loop().call_later(STT_DELAY, self._final, text)
                    spoke = False

        def _final(self, text: str) -> None:
            self._event_ch.send_nowait(stt.SpeechEvent(
                type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[stt.SpeechData(language="en", text=text)]))
            self._event_ch.send_nowait(stt.SpeechEvent(type=stt.SpeechEventType.END_OF_SPEECH))

    class TimedTTS(tts.TTS):
        def __init__(self) -> None:
            super().__init__(capabilities=tts.TTSCapabilities(streaming=True), sample_rate=24000, num_channels=1)

        def synthesize(self, text, *, conn_options=None):
            raise NotImplementedError("the session streams")

        def stream(self, *, conn_options=None):
            from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
            return _TimedTTSStream(tts=self, conn_options=conn_options or DEFAULT_API_CONNECT_OPTIONS)

    reply_frame = rtc.AudioFrame.create(24000, 1, 480).data.tobytes()

    class _TimedTTSStream(tts.SynthesizeStream):
        def push_text(self, token: str) -> None:
            if token and not getattr(self, "_noted", False):
                self._noted = True
                marks["tts_text"].append(time.perf_counter())
            super().push_text(token)

        async def _run(self, output_emitter) -> None:
            output_emitter.initialize(request_id=utils.shortuuid(), sample_rate=24000, num_channels=1,
                                      mime_type="audio/pcm", stream=True)
            segment_open = False
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    if segment_open:
                        await asyncio.sleep(TTS_TTFB)
                        for _ in range(int(REPLY_SECONDS / 0.02)):
                            output_emitter.push(reply_frame)
                        output_emitter.end_segment()
                        segment_open = False
                elif not segment_open:
                    output_emitter.start_segment(segment_id=utils.shortuuid())
                    segment_open = True

    class PacedOutput(io.AudioOutput):
        """Plays what it is given in real time, as a room's audio track does."""

        def __init__(self) -> None:
            super().__init__(label="bench output", capabilities=io.AudioOutputCapabilities(pause=False),
                             sample_rate=24000)
            self._pushed = 0.0
            self._started = 0.0
            self._finishing: asyncio.Task | None = None

        async def capture_frame(self, frame: rtc.AudioFrame) -> None:
            await super().capture_frame(frame)
            if not self._pushed:
                self._started = time.perf_counter()
                self.on_playback_started(created_at=time.time())
            self._pushed += frame.duration

        def flush(self) -> None:
            super().flush()
            if self._pushed:
                pushed, started = self._pushed, self._started
                self._pushed = 0.0

                async def finish() -> None:
                    await asyncio.sleep(max(0.0, started + pushed - time.perf_counter()))
                    self.on_playback_finished(playback_position=pushed, interrupted=False)

                self._finishing = asyncio.create_task(finish())

        def clear_buffer(self) -> None:
            if self._finishing and not self._finishing.done():
                self._finishing.cancel()
                self.on_playback_finished(playback_position=time.perf_counter() - self._started, interrupted=True)
            elif self._pushed:
                self.on_playback_finished(playback_position=time.perf_counter() - self._started, interrupted=True)
            self._pushed = 0.0

    return LoopingCaller, TimedSTT, TimedTTS, PacedOutput


async def capacity_job(ctx) -> None:
    """The production entrypoint with the stand-ins above; writes its marks at the end of the job."""
    from voiceworker import call_job as worker
    from voiceworker import entrypoint as door
    from voiceworker import providers

    marks: dict[str, list[float]] = {"speech_end": [], "vad_end": [], "llm_request": [], "tts_text": []}
    LoopingCaller, TimedSTT, TimedTTS, PacedOutput = stand_ins(marks)
    real_build_llm = providers.build_llm
    job_id = ctx.job.id

    def build_llm(config):
        model = real_build_llm(config)
        http = model._client._client  # the OpenAI SDK's httpx client: note each request as it leaves

        async def note(request) -> None:
            request.headers["x-bench-job"] = job_id
            marks["llm_request"].append(time.perf_counter())

        http.event_hooks["request"].append(note)
        return model

    providers.build_stt = lambda config: TimedSTT()
    providers.build_llm = build_llm
    providers.build_tts = lambda config: TimedTTS()
    real_build_call = worker.build_call

    def build_call(start, **kwargs):
        session, call = real_build_call(start, **kwargs)
        real_start = session.start

        async def start_with_caller(*args, **start_kwargs):
            result = await real_start(*args, **start_kwargs)
            session.input.audio = LoopingCaller()
            session.output.audio = PacedOutput()
            return result

        session.start = start_with_caller

        def on_user_state(event) -> None:
            if event.old_state == "speaking" and event.new_state == "listening":
                marks["vad_end"].append(time.perf_counter())

        session.on("user_state_changed", on_user_state)
        return session, call

    worker.build_call = build_call

    async def report(reason: str) -> None:
        Path(os.environ[REPORT_DIR], f"{job_id}.json").write_text(json.dumps({"pid": os.getpid(), **marks}))

    ctx.add_shutdown_callback(report)
    await door.entrypoint(ctx)


# --- in the bench process -------------------------------------------------------------------------

class SlowOpenAI:
    """A local OpenAI-compatible streaming endpoint answering after LLM_TTFT; notes when each job's
    first token leaves."""

    def __init__(self) -> None:
        from aiohttp import web

        from voiceworker.tests.fakes import ThreadedServer

        self.first_token: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.server = ThreadedServer(app)
        self.base_url = f"{self.server.url}/v1"

    async def _chat(self, request):
        from aiohttp import web

        body = await request.json()
        job = request.headers.get("x-bench-job", "")
        await asyncio.sleep(LLM_TTFT)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        def chunk(delta, finish=None) -> bytes:
            data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", ""),
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        await response.write(chunk({"role": "assistant", "content": ""}))
        with self.lock:
            self.first_token.setdefault(job, []).append(time.perf_counter())
        await response.write(chunk({"content": REPLY}))
        await response.write(chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def stop(self) -> None:
        self.server.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))] if ordered else float("nan")


def turn_latencies(report: dict, first_tokens: list[float], window: tuple[float, float]) -> tuple[list, list]:
    """Per turn, ms: (1) the recording's end of speech + the STT's delay (the final transcript: the
    earliest a reply can start) to the turn's first LLM request; (2) the LLM's first token to the
    first text at the TTS."""
    begin, end = window
    to_llm, to_tts = [], []
    for speech_end in report["speech_end"]:
        if not begin <= speech_end <= end:
            continue
        requests = [t for t in report["llm_request"] if speech_end <= t < speech_end + 3]
        if requests:
            to_llm.append((min(requests) - speech_end - STT_DELAY) * 1000)
    for token in first_tokens:
        if not begin <= token <= end:
            continue
        texts = [t for t in report["tts_text"] if token <= t < token + 3]
        if texts:
            to_tts.append((min(texts) - token) * 1000)
    return to_llm, to_tts


async def measure(*, calls: int, seconds: float, executor: str, database_url: str, endpoint: SlowOpenAI,
                  report_dir: Path) -> dict:
    import psutil
    import worker_capacity
    from call_start import calls_started, memory_of
    from livekit.agents import JobExecutorType

    from voiceworker.entrypoint import build_server

    for path in report_dir.glob("*.json"):
        path.unlink()
    server = build_server(job_entrypoint=worker_capacity.capacity_job)
    server.update_options(num_idle_processes=calls if executor == "process" else 0, shutdown_process_timeout=5,
                          job_executor_type=JobExecutorType.THREAD if executor == "thread" else JobExecutorType.PROCESS)
    running = asyncio.create_task(server.run(devmode=True, unregistered=True))
    me = psutil.Process()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pool = getattr(server, "_proc_pool", None)
            ready = [p for p in (pool.processes if pool else []) if p.pid and p._initialize_fut.done()]
            if executor == "thread" and pool is not None or len(ready) >= calls:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        base_memory = memory_of(me.pid)
        before = calls_started(database_url)
        for number in range(calls):
            await server.simulate_job(f"capacity-{calls}-{number}", fake_job=True)
        deadline = time.monotonic() + 60
        while calls_started(database_url) < before + calls and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        started = calls_started(database_url) - before
        await asyncio.sleep(9)  # greeting, then one loop of the caller
        procs = [psutil.Process(p.pid) for p in server._proc_pool.processes if p.running_job] if executor == "process" else [me]
        cpu_before = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        window = (time.perf_counter(), time.perf_counter() + seconds)
        await asyncio.sleep(seconds)
        cpu_used = sum(p.cpu_times().user + p.cpu_times().system for p in procs) - cpu_before
        memory = [memory_of(p.pid) for p in procs]
        memory = [m for m in memory if m]
        for proc in list(server._proc_pool.processes):
            if proc.running_job:
                await proc.aclose()
        await asyncio.sleep(1)
    finally:
        await server.aclose()
        running.cancel()
    to_llm, to_tts, turns_per_call = [], [], []
    for path in report_dir.glob("*.json"):
        report = json.loads(path.read_text())
        job = path.stem
        if os.environ.get("BENCH_DEBUG"):
            print({key: [round(t - window[0], 2) for t in values] for key, values in report.items() if key != "pid"},
                  [round(t - window[0], 2) for t in endpoint.first_token.get(job, [])])
        llm, tts = turn_latencies(report, endpoint.first_token.get(job, []), window)
        to_llm += llm
        to_tts += tts
        turns_per_call.append(len(llm))
    result = {"calls": calls, "started": started, "reports": len(turns_per_call), "turns": len(to_llm),
              "cpu_ms_per_call_second": cpu_used / (calls * seconds) * 1000,
              "llm_p50": percentile(to_llm, .5), "llm_p95": percentile(to_llm, .95),
              "tts_p50": percentile(to_tts, .5), "tts_p95": percentile(to_tts, .95)}
    if executor == "process":
        result["pss"] = sum(m["pss"] for m in memory) / max(1, len(memory))
        result["uss"] = sum(m["uss"] for m in memory) / max(1, len(memory))
    else:
        result["pss"] = (memory[0]["pss"] - base_memory["pss"]) / calls
        result["uss"] = (memory[0]["uss"] - base_memory["uss"]) / calls
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,2,4,8,16,24,32")
    parser.add_argument("--executor", choices=["process", "thread"], default="process")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per N")
    parser.add_argument("--database", default="soniq_capacity_bench")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--skip-setup", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database server and a Redis db of your own).")
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    import subprocess

    from call_start import drop_database, purge_celery_queue
    from tool_latency import INTERNAL_TOKEN, Server, bench_database_url, prepare_database, server_env

    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f"[bench] timeit sum(range(10000)): {timeit.stdout.strip()}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    database_url = bench_database_url(args.database)
    spool = tempfile.TemporaryDirectory(prefix="soniq-capacity-spool-")
    reports = tempfile.TemporaryDirectory(prefix="soniq-capacity-reports-")
    endpoint = SlowOpenAI()
    server = None
    try:
        prepare_database(database_url, skip_setup=args.skip_setup)
        server = Server(database_url, workers=2, threads=4)
        server.wait_ready()
        os.environ.update(server_env(database_url))
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "soniq_site.settings", "SONIQ_API_URL": server.url,
            "INTERNAL_API_TOKEN": INTERNAL_TOKEN, "VOICE_SPOOL_DIR": spool.name, "VOICE_CONSOLE_NUMBER": SALON_NUMBER,
            "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0", "OPENAI_API_KEY": "bench-not-used",
            "OPENAI_BASE_URL": endpoint.base_url, "CARTESIA_API_KEY": "bench", "DEEPGRAM_API_KEY": "bench",
            REPORT_DIR: reports.name,
        })
        import logging

        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        print(f"{'N':>3} {'started':>7} {'turns':>6} {'CPU ms/call-s':>13} {'PSS MB/call':>11} {'USS MB/call':>11} "
              f"{'EoS->LLM p50/p95 ms':>20} {'LLM->TTS p50/p95 ms':>20}  load", flush=True)
        for calls in [int(c) for c in args.calls.split(",") if c]:
            result = asyncio.run(measure(calls=calls, seconds=args.seconds, executor=args.executor,
                                         database_url=database_url, endpoint=endpoint, report_dir=Path(reports.name)))
            print(f"{calls:>3} {result['started']:>7} {result['turns']:>6} {result['cpu_ms_per_call_second']:>13.1f} "
                  f"{result['pss']:>11.1f} {result['uss']:>11.1f} "
                  f"{result['llm_p50']:>9.1f} / {result['llm_p95']:>7.1f} {result['tts_p50']:>9.1f} / {result['tts_p95']:>7.1f}"
                  f"  {os.getloadavg()[0]:.2f}", flush=True)
            if max(result["llm_p95"], result["tts_p95"]) > 50:
                print(f"[bench] p95 added latency above 50 ms at N={calls}", flush=True)
            # Go on past 50 ms (on a busy machine the baseline may already be there), but not past
            # failing calls or half-second delays: that is degraded whatever the machine.
            if result["started"] < calls or max(result["llm_p95"], result["tts_p95"]) > 500:
                print(f"[bench] degraded at N={calls} (calls failed or p95 > 500 ms): stopping", flush=True)
                break
    finally:
        if server is not None:
            server.stop()
            server.access_log.unlink(missing_ok=True)
        purge_celery_queue()
        if not args.keep_database:
            drop_database(database_url)
        spool.cleanup()
        reports.cleanup()
        endpoint.stop()
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
