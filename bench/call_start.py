"""The voice worker's own share of a call's start, and its memory per concurrent call.

    .venv/bin/python bench/call_start.py [--calls 100] [--jobs 1,4] [--keep-database]

Needs DATABASE_URL and REDIS_URL of your own (a bench database is created next to DATABASE_URL's,
and the default Celery queue of REDIS_URL's db is emptied at the end: it holds the bench calls'
logs, which no Celery worker consumes here). About 35 seconds.

Setup, as `bench/tool_latency.py` does it: a bench database (default `soniq_call_start_bench`,
created, `migrate_schemas`, `seed_demo`; dropped at the end unless --keep-database) and the
internal API on gunicorn (gthread, DEBUG off) on a free port.

1. Call start, in this process: the worker's real `entrypoint()` runs N times (after warm-up calls)
   in a fake job context (livekit's `fake_job_context` with the mock room fake jobs use, whose
   caller is already in the room: the moment "the SIP participant joined"). It posts the real
   `POST /internal/calls/start` over HTTP to gunicorn, builds the session from the returned config
   with the real `build_session` (`turn_handling(config)`, max tool steps, the prewarmed Silero VAD), but with
   instant fake speech and language providers (the STT swallows audio, the LLM is never asked, the
   TTS answers every text at once with 20 ms of silence), starts the real `SoniqAgent`, and says
   the greeting. (Fake jobs take the entrypoint's console branch: the dialled number comes from
   VOICE_CONSOLE_NUMBER instead of the SIP attributes; the rest is the SIP path.) As livekit's
   forkserver does for job processes, the imported modules are frozen for the garbage collector
   before the calls. The clock stops when the greeting text reaches the TTS's `push_text`. Phases
   (from marks around the real functions): until the request is sent; the call-start HTTP round trip
   (own connection per call, as in production; gunicorn's own handling time is shown beside it);
   building the session, watchdog and agent; `session.start`; greeting dispatch (`say()` to the TTS).
   Each call then ends as a job does (session closed, shutdown callbacks: the log goes to the API).
2. Memory, in real job processes: the production `build_server()` (forkserver; the entrypoint
   module and `voiceworker/forkserver_preload.py` preloaded, prewarm) with
   LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0, run unregistered; `simulate_job(fake_job=True)` sends
   K concurrent fake jobs to the salon's number, so each job process runs the real entrypoint with
   the real Deepgram/OpenAI/Cartesia plugin objects (dummy keys). Deepgram and Cartesia cannot
   connect offline and retry, which keeps the sessions alive. The mock room has no audio track, so
   each job then does what a caller's first turn makes a call do: a recorded caller
   (voiceworker/tests/audio, 2 × 5.3 s, 8 kHz) through its VAD, and two LLM requests with the
   agent's tools through the real OpenAI plugin to a local streaming endpoint (voiceworker's
   FakeOpenAI), timed to their first chunk. Live audio buffers and the two provider websockets are
   not in these figures. Once every call row exists plus a settle time, the RSS, USS and PSS
   (psutil `memory_full_info()`) of every job process with a job are read, next to an idle
   prewarmed process and the forkserver.
   USS is what one more concurrent call costs the machine; RSS also counts the pages shared with
   the forkserver and the other job processes.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20
SALON_NUMBER = "+15550100001"  # demo/salon.yaml (testing.demo_tenants; not importable before the path is set)


# --- instant fake providers -------------------------------------------------------------------

def fake_providers(greeting_marks: dict[str, float]):
    """An STT that swallows audio, an LLM that is never asked (the greeting is a fixed sentence)
    and a streaming TTS that notes when the first text arrives and answers each segment at once.
    Built lazily: job processes re-import this module and must not pay for these imports."""
    from livekit import rtc
    from livekit.agents import stt, tts, utils

    from voiceworker.tests.fakes import ScriptedLLM

    class InstantSTT(stt.STT):
        def __init__(self) -> None:
            super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))

        async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
            return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                                   alternatives=[stt.SpeechData(language="en", text="")])

        def stream(self, *, language=None, conn_options=None, **kwargs):
            from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
            return _SwallowingStream(stt=self, conn_options=conn_options or DEFAULT_API_CONNECT_OPTIONS)

    class _SwallowingStream(stt.RecognizeStream):
        async def _run(self) -> None:
            async for _frame in self._input_ch:
                pass

    class InstantTTS(tts.TTS):
        def __init__(self) -> None:
            super().__init__(capabilities=tts.TTSCapabilities(streaming=True), sample_rate=24000, num_channels=1)

        def synthesize(self, text, *, conn_options=None):
            raise NotImplementedError("the session streams")

        def stream(self, *, conn_options=None):
            from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
            return _InstantStream(tts=self, conn_options=conn_options or DEFAULT_API_CONNECT_OPTIONS)

    silence = rtc.AudioFrame.create(24000, 1, 480).data.tobytes()  # 20 ms

    class _InstantStream(tts.SynthesizeStream):
        def push_text(self, token: str) -> None:
            # The moment our code hands the greeting to the TTS plugin.
            if token and "tts_text" not in greeting_marks:
                greeting_marks["tts_text"] = time.perf_counter()
                greeting_marks["first_text"] = token
                arrived = greeting_marks.get("arrived")
                if arrived is not None:
                    arrived.set()
            super().push_text(token)

        async def _run(self, output_emitter) -> None:
            output_emitter.initialize(request_id=utils.shortuuid(), sample_rate=24000, num_channels=1,
                                      mime_type="audio/pcm", stream=True)
            segment_open = False
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    if segment_open:
                        output_emitter.push(silence)
                        output_emitter.end_segment()
                        segment_open = False
                elif not segment_open:
                    output_emitter.start_segment(segment_id=utils.shortuuid())
                    segment_open = True
            if segment_open:
                output_emitter.push(silence)
                output_emitter.end_segment()

    return InstantSTT, ScriptedLLM, InstantTTS


# --- 1. call start ------------------------------------------------------------------------------

PHASES = [
    ("participant → request sent", "t0", "api_sent"),
    ("call-start HTTP round trip", "api_sent", "api_done"),
    ("build session/watchdog/agent", "api_done", "start_called"),
    ("session.start", "start_called", "started"),
    ("greeting dispatch (say → TTS)", "started", "tts_text"),
    ("total: joined → greeting at TTS", "t0", "tts_text"),
]


async def measure_call_start(*, calls: int, warmup: int) -> list[dict[str, float]]:
    from livekit.agents.ipc.mock_room import create_mock_room
    from livekit.agents.testing import fake_job_context

    from voiceworker import call_job as worker
    from voiceworker import entrypoint as door
    from voiceworker import providers
    from voiceworker.api_client import SoniqApiClient

    marks: dict = {}
    InstantSTT, ScriptedLLM, InstantTTS = fake_providers(marks)
    # Only the provider constructors are swapped; build_session itself is the real one.
    providers.build_stt = lambda config: InstantSTT()
    providers.build_llm = lambda config: ScriptedLLM([])
    providers.build_tts = lambda config: InstantTTS()

    real_start_call, real_build_call = SoniqApiClient.start_call, worker.build_call
    captured: dict = {}

    async def timed_start_call(self, **kwargs):
        marks["api_sent"] = time.perf_counter()
        try:
            return await real_start_call(self, **kwargs)
        finally:
            marks["api_done"] = time.perf_counter()

    def timed_build_call(start, **kwargs):
        session, call = real_build_call(start, **kwargs)
        captured["session"], captured["greeting"] = session, call.config.greeting
        # Teardown only: at close the session waits up to 2 s for the caller's last words from the
        # STT, which the fake never sends.
        session._opts.session_close_transcript_timeout = 0.0
        real_session_start, real_say = session.start, session.say

        async def timed_session_start(*args, **start_kwargs):
            marks["start_called"] = time.perf_counter()
            result = await real_session_start(*args, **start_kwargs)
            marks["started"] = time.perf_counter()
            return result

        def timed_say(*args, **say_kwargs):
            marks["say"] = time.perf_counter()
            return real_say(*args, **say_kwargs)

        session.start, session.say = timed_session_start, timed_say
        return session, call

    SoniqApiClient.start_call = timed_start_call
    worker.build_call = timed_build_call

    # Job processes inherit the imported modules from the forkserver, where livekit collects and
    # freezes them (livekit.agents.ipc._preload_freeze), so a job's garbage collections never walk
    # them. The same here; otherwise a full collection of this process's heap (0.2-0.4 s on a small
    # CPU) lands in a measured call now and then. The settings module is among the preloads.
    importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    gc.collect()
    gc.freeze()
    collections: list[tuple[int, float, float]] = []  # (generation, began, ended)

    def note_collection(phase: str, info: dict) -> None:
        if phase == "start":
            note_collection.began = time.perf_counter()
        else:
            collections.append((info["generation"], note_collection.began, time.perf_counter()))

    gc.callbacks.append(note_collection)

    vad = None
    results: list[dict[str, float]] = []
    for number in range(warmup + calls):
        # The mock room of fake jobs, one per process as there. Its attributes are autospec mocks,
        # built on first access: the warm-up calls build them, so the measured calls pay only for
        # calling mocks (still dearer than a real room's plain attributes, see BENCHMARKS.md).
        room = create_mock_room()
        marks.clear()
        marks["arrived"] = asyncio.Event()
        captured.clear()
        with fake_job_context(room=room, job_id=f"bench-job-{number}") as ctx:
            if vad is None:
                door.prewarm(ctx.proc)  # the real prewarm, once (as once per job process)
                vad = ctx.proc.userdata["vad"]
            ctx.proc.userdata["vad"] = vad
            marks["t0"] = time.perf_counter()
            await door.entrypoint(ctx)
            await asyncio.wait_for(marks["arrived"].wait(), 10)
            greeting = captured.get("greeting", "")
            if not greeting or not greeting.startswith(marks["first_text"]):
                raise SystemExit(f"the TTS got {marks['first_text']!r} first, not the greeting")
            if number >= warmup:
                result = {name: value for name, value in marks.items() if isinstance(value, float)}
                during = [(generation, ended - began) for generation, began, ended in collections
                          if began >= result["t0"] and ended <= result["tts_text"]]
                result["gc_ms"] = sum(seconds for _, seconds in during) * 1000
                result["gc_full"] = sum(1 for generation, _ in during if generation == 2)
                results.append(result)
            collections.clear()
            # The end of a job, as the job process does it: session closed, then the shutdown callbacks.
            session = captured.get("session")
            if session is None:
                raise SystemExit("the entrypoint did not build a session (see the log above)")
            await session.aclose()
            for callback in ctx._shutdown_callbacks:
                await callback("bench call over")
        # The mock records every call made on it, with the arguments: that would keep each call's
        # session alive. (Its child mocks and return values stay.)
        room.reset_mock()
        # In production every call has a job process of its own, forked from the forkserver's frozen
        # image: no call's collector walks what earlier calls left. Here one process runs them all,
        # so what survived this call is frozen too; each call still pays for its own collections.
        gc.collect()
        gc.freeze()
    gc.callbacks.remove(note_collection)
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def call_start_table(results: list[dict[str, float]], server_ms: list[float]) -> str:
    lines = [f"{'phase':<34}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"]
    for label, begin, end in PHASES:
        values = [(marks[end] - marks[begin]) * 1000 for marks in results]
        lines.append(f"{label:<34}{percentile(values, .5):>9.1f}{percentile(values, .95):>9.1f}{max(values):>9.1f}")
        if begin == "api_sent" and server_ms:
            lines.append(f"{'  of which gunicorn handling':<34}{percentile(server_ms, .5):>9.1f}"
                         f"{percentile(server_ms, .95):>9.1f}{max(server_ms):>9.1f}")
    own = [((marks["tts_text"] - marks["t0"]) - (marks["api_done"] - marks["api_sent"])) * 1000 for marks in results]
    lines.append(f"{'total minus the HTTP round trip':<34}{percentile(own, .5):>9.1f}{percentile(own, .95):>9.1f}"
                 f"{max(own):>9.1f}")
    gc_ms = [marks["gc_ms"] for marks in results]
    lines.append(f"{'  garbage collection in the total':<34}{percentile(gc_ms, .5):>9.1f}{percentile(gc_ms, .95):>9.1f}"
                 f"{max(gc_ms):>9.1f}   (full collections: {sum(marks['gc_full'] for marks in results):.0f})")
    return "\n".join(lines)


# --- 2. memory ----------------------------------------------------------------------------------

CALLER_AUDIO_REPEATS = 2  # the recorded caller (5.3 s) twice
BENCH_REPORT_DIR = "SONIQ_BENCH_REPORT_DIR"


async def entrypoint_with_caller_audio(ctx) -> None:
    """The production entrypoint, then what the caller's first turn costs the job process: the
    caller's audio through the job's VAD, as the session runs every frame of a caller's track
    through it (a fake job's mock room has no audio track, and a VAD that never runs never maps
    ONNX Runtime's inference code), and two LLM requests as the agent's first replies make them
    (the real plugin, the agent's six tools, OPENAI_BASE_URL at the bench's local endpoint), timed
    to their first chunk and written to BENCH_REPORT_DIR. Imported by path in the job processes
    (`call_start`, not `__main__`)."""
    import json

    from livekit.agents import llm

    from core.call_contract import CallConfig
    from voiceworker.agent import SoniqAgent
    from voiceworker.entrypoint import entrypoint
    from voiceworker.providers import build_llm
    from voiceworker.tests.audio import wav_frames

    await entrypoint(ctx)
    stream = ctx.proc.userdata["vad"].stream()
    for _ in range(CALLER_AUDIO_REPEATS):
        for frame in wav_frames():
            stream.push_frame(frame)
    stream.end_input()
    async for _event in stream:
        pass
    await stream.aclose()

    model = build_llm(CallConfig())
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="user", content="Hi, I'd like to book a haircut, please.")
    tools = SoniqAgent(instructions="", tools_offered=None).tools
    first_chunk_ms = []
    for _request in range(2):
        began = time.perf_counter()
        async with model.chat(chat_ctx=chat_ctx, tools=tools) as reply:
            async for _chunk in reply:
                first_chunk_ms.append((time.perf_counter() - began) * 1000)
                break
            async for _chunk in reply:
                pass
    await model.aclose()
    report = Path(os.environ[BENCH_REPORT_DIR]) / f"{os.getpid()}-{ctx.job.id}.json"
    report.write_text(json.dumps({"first_chunk_ms": first_chunk_ms}))


def first_reply_lines(report_dir: Path) -> list[str]:
    import json

    runs = [json.loads(path.read_text())["first_chunk_ms"] for path in sorted(report_dir.glob("*.json"))]
    if not runs:
        return ["no job reported its LLM requests"]
    lines = [f"LLM requests in job processes, to the first chunk ({len(runs)} jobs, local endpoint):"]
    for index, label in enumerate(("first request of the process", "second request")):
        values = [run[index] for run in runs]
        lines.append(f"  {label:<30} p50 {percentile(values, .5):6.1f}  max {max(values):6.1f} ms")
    return lines


def memory_of(pid: int) -> dict[str, float] | None:
    import psutil

    try:
        info = psutil.Process(pid).memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return {"rss": info.rss / MB, "uss": info.uss / MB, "pss": info.pss / MB}


def calls_started(database_url: str, *, logged: bool = False) -> int:
    """Salon calls from fake jobs (their mock room is "console"); `logged`: whose log reached the API."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as db:
        return db.execute("SELECT count(*) FROM salon.calls_call WHERE room = 'console'"
                          + (" AND log_received_at IS NOT NULL" if logged else "")).fetchone()[0]


async def measure_memory(*, job_counts: list[int], database_url: str, settle: float) -> list[str]:
    import call_start  # this file as a module, so job processes can import the entrypoint by path
    import psutil

    from voiceworker.entrypoint import build_server

    server = build_server(job_entrypoint=call_start.entrypoint_with_caller_audio)
    server.update_options(num_idle_processes=max(job_counts) + 1, shutdown_process_timeout=5)
    running = asyncio.create_task(server.run(devmode=True, unregistered=True))
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pool = getattr(server, "_proc_pool", None)
            # Initialized = the setup function (VAD prewarm) has run in the process.
            ready = [proc for proc in (pool.processes if pool else []) if proc.pid and proc._initialize_fut.done()]
            if len(ready) >= max(job_counts) + 1:
                break
            await asyncio.sleep(0.1)
        else:
            raise SystemExit("the job processes did not start")
        me = psutil.Process()
        forkserver = [child for child in me.children() if "forkserver" in " ".join(child.cmdline())]
        if forkserver:
            base = memory_of(forkserver[0].pid)
            lines.append(f"forkserver (preloaded modules):        RSS {base['rss']:6.1f}  USS {base['uss']:6.1f}  "
                         f"PSS {base['pss']:6.1f} MB")
        idle = [memory_of(proc.pid) for proc in server._proc_pool.processes if proc.pid and not proc.running_job]
        idle = [sample for sample in idle if sample]
        lines.append(f"idle prewarmed job process (no call):  RSS {min(s['rss'] for s in idle):6.1f}  "
                     f"USS {min(s['uss'] for s in idle):6.1f}  PSS {min(s['pss'] for s in idle):6.1f} MB"
                     f"  ({len(idle)} processes)")
        before, logged_before = calls_started(database_url), calls_started(database_url, logged=True)
        for count in job_counts:
            for number in range(count):
                await server.simulate_job(f"bench-memory-{count}-{number}", fake_job=True)
            deadline = time.monotonic() + 30
            while calls_started(database_url) < before + count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if calls_started(database_url) < before + count:
                raise SystemExit(f"only {calls_started(database_url) - before} of {count} jobs started a call")
            before += count
            await asyncio.sleep(settle)  # session start, greeting, the providers' first (failing) connects
            busy = [proc for proc in server._proc_pool.processes if proc.running_job]
            samples = [memory_of(proc.pid) for proc in busy]
            samples = [sample for sample in samples if sample]
            if len(samples) != count:
                raise SystemExit(f"{len(samples)} job processes have a call, expected {count}")
            total_uss = sum(sample["uss"] for sample in samples)
            lines.append(
                f"{count} concurrent call(s), per job process: RSS max {max(s['rss'] for s in samples):6.1f} "
                f"USS max {max(s['uss'] for s in samples):6.1f}  PSS max {max(s['pss'] for s in samples):6.1f} MB; "
                f"all jobs: USS sum {total_uss:.0f} MB, PSS sum {sum(s['pss'] for s in samples):.0f} MB")
            await asyncio.gather(*(proc.aclose() for proc in busy))
        logged = calls_started(database_url, logged=True) - logged_before
        lines.append(f"jobs ended normally: the API received {logged} of {sum(job_counts)} call logs")
        lines.extend(first_reply_lines(Path(os.environ[BENCH_REPORT_DIR])))
    finally:
        await server.aclose()
        running.cancel()
    return lines


# --- setup and main -----------------------------------------------------------------------------

def drop_database(database_url: str) -> None:
    import psycopg

    parsed = urlparse(database_url)
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def purge_celery_queue() -> None:
    """The bench calls' logs were queued for a Celery worker that does not run here."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("celery", "messages", "ingest", "maintenance")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="measured call starts (after --warmup)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--jobs", default="1,4", help="concurrent job counts for the memory part, e.g. 1,4")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds a job runs before its memory is read")
    parser.add_argument("--database", default="soniq_call_start_bench")
    parser.add_argument("--keep-database", action="store_true", help="keep (and next time reuse) the bench database")
    parser.add_argument("--skip-setup", action="store_true", help="with --keep-database: do not migrate/seed again")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a database server and a Redis db of your own).")
    job_counts = [int(count) for count in args.jobs.split(",") if count]

    sys.path.insert(0, str(ROOT))
    from tool_latency import INTERNAL_TOKEN, Server, bench_database_url, prepare_database, server_env

    began = time.monotonic()
    database_url = bench_database_url(args.database)
    print(f"[bench] load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}", flush=True)
    spool = tempfile.TemporaryDirectory(prefix="soniq-bench-spool-")
    reports = tempfile.TemporaryDirectory(prefix="soniq-bench-reports-")
    from voiceworker.tests.fakes import FakeOpenAI

    # The agent's replies: a local OpenAI-compatible streaming endpoint (it answers "Okay.").
    openai_endpoint = FakeOpenAI()
    server = None
    try:
        prepare_database(database_url, skip_setup=args.skip_setup)
        server = Server(database_url, workers=2, threads=4)
        server.wait_ready()
        # The worker's environment: settings from env, as in production, pointed at this server.
        os.environ.update(server_env(database_url))
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "soniq_site.settings",
            "SONIQ_API_URL": server.url,
            "INTERNAL_API_TOKEN": INTERNAL_TOKEN,
            "VOICE_SPOOL_DIR": spool.name,
            "VOICE_CONSOLE_NUMBER": SALON_NUMBER,  # fake jobs have no SIP attributes
            "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
            "CARTESIA_API_KEY": "bench-not-used", "DEEPGRAM_API_KEY": "bench-not-used",
            "OPENAI_API_KEY": "bench-not-used", "OPENAI_BASE_URL": openai_endpoint.base_url,
            BENCH_REPORT_DIR: reports.name,
        })
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

        print(f"[bench] {args.warmup} + {args.calls} call starts against {server.url} ...", flush=True)
        results = asyncio.run(measure_call_start(calls=args.calls, warmup=args.warmup))
        time.sleep(0.5)  # gunicorn writes its access-log line after the response
        server_ms = server.server_timings().get("call_start", [])[args.warmup:]
        print(f"\nCall start, {len(results)} calls (instant fake STT/LLM/TTS, real API on gunicorn 2×4):")
        print(call_start_table(results, server_ms))

        if not args.skip_memory:
            # Offline, the real plugins' connection retries log an error per attempt; the
            # figures below check that every job is still running instead.
            logging.getLogger("livekit.agents").setLevel(logging.CRITICAL)
            logging.getLogger("livekit.plugins").setLevel(logging.CRITICAL)
            print(f"\n[bench] memory: production build_server(), {args.jobs} concurrent fake jobs ...", flush=True)
            lines = asyncio.run(measure_memory(job_counts=job_counts, database_url=database_url, settle=args.settle))
            print("\nMemory (MB = MiB; psutil memory_full_info):")
            print("\n".join(lines))
        print(f"\nload average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}; "
              f"{os.cpu_count()} CPUs; total run time {time.monotonic() - began:.0f} s")
    finally:
        if server is not None:
            server.stop()
            server.access_log.unlink(missing_ok=True)
        purge_celery_queue()
        if not args.keep_database:
            drop_database(database_url)
        spool.cleanup()
        reports.cleanup()
        openai_endpoint.stop()


if __name__ == "__main__":
    main()
