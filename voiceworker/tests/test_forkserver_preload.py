"""Job processes forked by the production forkserver inherit the Silero VAD it loaded, and that VAD
hears the caller: a recorded caller starts and stops speaking where the recording does."""
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from livekit.agents import JobContext, vad
from livekit.protocol import models

from voiceworker.entrypoint import FORKSERVER_PRELOAD, build_server
from voiceworker.tests.audio import CALLER_SPEECH_ENDS, CALLER_SPEECH_STARTS, wav_frames

# Job processes and fresh interpreters load settings outside pytest, as production does.
SECRET_KEY = "voice-worker-job-process-test-secret-key-0123456789"


def run_fresh_interpreter(script: str):
    """`script` in a new interpreter at the project root, as the forkserver starts: nothing imported yet."""
    import subprocess

    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


async def hear_the_recorded_caller(ctx: JobContext) -> None:
    """Runs in the job process: the caller's audio through the VAD its prewarm chose."""
    speech = ctx.proc.userdata["vad"]
    stream = speech.stream()
    for frame in wav_frames():
        stream.push_frame(frame)
    stream.end_input()
    events = [(event.type.value, round(event.timestamp, 2)) async for event in stream
              if event.type != vad.VADEventType.INFERENCE_DONE]
    await stream.aclose()
    preloaded = sys.modules.get(FORKSERVER_PRELOAD)
    Path(json.loads(ctx.job.room.metadata)["report"]).write_text(json.dumps({
        "pid": os.getpid(), "inherited": preloaded is not None and speech is preloaded.vad, "events": events}))
    ctx.shutdown(reason="heard the caller")


def test_a_job_process_hears_the_caller_through_the_vad_loaded_by_the_forkserver(monkeypatch, tmp_path,
                                                                                   fresh_forkserver):
    report = tmp_path / "vad.json"
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)

    async def run():
        server = build_server(job_entrypoint=hear_the_recorded_caller)
        server.update_options(shutdown_process_timeout=2)
        running = asyncio.create_task(server.run(devmode=True, unregistered=True))
        try:
            while not getattr(server, "_proc_pool", None):
                await asyncio.sleep(0.05)
            room = models.Room(sid="RM_vad", name="vad-room", metadata=json.dumps({"report": str(report)}))
            await server.simulate_job("vad-room", fake_job=True, room_info=room)
            deadline = time.monotonic() + 60
            while not report.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await server.aclose()
            running.cancel()

    asyncio.run(run())
    heard = json.loads(report.read_text())
    assert heard["pid"] != os.getpid() and heard["inherited"] is True
    (start_kind, started), (end_kind, ended) = heard["events"]
    assert (start_kind, end_kind) == ("start_of_speech", "end_of_speech")
    # Speech is reported a little after it begins, and ends after the VAD's silence threshold.
    assert CALLER_SPEECH_STARTS <= started <= CALLER_SPEECH_STARTS + 0.5
    assert CALLER_SPEECH_ENDS <= ended <= CALLER_SPEECH_ENDS + 1.0


def test_outside_the_forkserver_the_prewarm_loads_its_own_vad(monkeypatch):
    from livekit.plugins import silero

    from voiceworker.entrypoint import prewarm

    class Process:
        userdata: dict = {}

    monkeypatch.delitem(sys.modules, FORKSERVER_PRELOAD, raising=False)
    proc = Process()
    prewarm(proc)
    assert isinstance(proc.userdata["vad"], silero.VAD)


def test_the_preload_warms_the_llm_request_path_and_leaves_no_thread_behind_for_the_fork():
    """In a fresh interpreter, as the forkserver imports it: the real plugin made a streamed request
    (the SDK's chat-completions modules are loaded, so a call's first reply does not import them),
    and no thread it started is still alive when the forkserver forks."""
    script = (
        "import os, sys\n"
        "import livekit.agents, livekit.plugins.openai, livekit.plugins.silero  # the forkserver imports the plugins first\n"
        "threads = len(os.listdir('/proc/self/task'))\n"
        "import voiceworker.forkserver_preload\n"
        "print(threads, len(os.listdir('/proc/self/task')), 'openai.resources.chat.completions' in sys.modules)\n"
    )
    done = run_fresh_interpreter(script)
    assert done.returncode == 0, done.stderr
    assert "could not warm up" not in done.stderr
    before, after, chat_loaded = done.stdout.split()
    assert after == before and chat_loaded == "True"


def test_a_vad_that_cannot_load_does_not_stop_the_forkserver():
    """The forkserver skips only ImportErrors of its preloads; anything else would stop it, and every
    call with it. Here the job processes are left to load their own VAD."""
    script = (
        "from livekit.plugins import silero\n"
        "def broken(**options): raise RuntimeError('no model')\n"
        "silero.VAD.load = broken\n"
        "import voiceworker.forkserver_preload as preload\n"
        "print(preload.vad)\n"
    )
    done = run_fresh_interpreter(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert "could not preload the VAD" in done.stderr
