"""What recording a call costs the voice worker, and what it costs in storage.

    DJANGO_SETTINGS_MODULE=soniq_site.settings DEBUG=1 .venv/bin/python bench/recording.py [--seconds 30] [--runs 2]

One simulated call, in real time, through the worker's own code: the real AgentSession with the
caller's audio coming in (voiceworker/tests/audio/caller_8khz.wav, spoken every 9 s) and the agent
answering with synthesized audio (a tone, 4 s, every 9 s), played out in real time; recording on
(voiceworker/recordings.py: livekit-agents' RecorderIO writing stereo Ogg/Opus into the spool) or
off. It prints, per run:

- the worker process's CPU during the call, recording on and off (the difference is the recorder's:
  resampling to 48 kHz and Opus encoding in its thread), per call-second;
- after hang-up: the time and CPU from the session's close to the recording being delivered (closing
  the file, moving it into the spool, uploading it to a local HTTP endpoint that takes it as the API
  would), plain and with a card-number turn to mute (decode, silence, re-encode);
- the file's size per call-minute.

The API here is a stand-in that reads the body and answers 201: the figure is the worker's side only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_call(*, seconds: float, record: bool, card: bool, api_url: str, spool: Path) -> dict:
    from livekit.agents import AgentSession

    from core.call_contract import CallConfig, RecordingConfig
    from voiceworker import recordings
    from voiceworker.agent import SoniqAgent
    from voiceworker.api_client import CallStart, SoniqApiClient
    from voiceworker.call_control import LoggingCallControl
    from voiceworker.call_job import build_call
    from voiceworker.tests.fakes import PlayingAudioOutput, ScriptedLLM
    from voiceworker.tests.test_recordings import CallerLine, FakeJob, ToneTTS

    start = CallStart(call_id=f"bench-{time.time_ns()}", call_token="bench-token",
                      config=CallConfig(recording=RecordingConfig(enabled=record)))
    voice = ToneTTS(seconds=4.0)
    session = AgentSession(llm=ScriptedLLM([]), tts=voice, vad=None, turn_handling={"turn_detection": None})
    client = SoniqApiClient(base_url=api_url)
    session, call = build_call(start, api=client, control=LoggingCallControl(), vad_model=None, session=session)
    line = CallerLine()
    session.input.audio = line
    session.output.audio = PlayingAudioOutput()
    await session.start(SoniqAgent(instructions="", tools_offered=[]), record=False)
    job = FakeJob()
    started = recordings.register(job, session, call, uploader=recordings.RecordingUploader(api_url=api_url,
                                                                                            spool_dir=spool))
    if started is not None:
        await started
    began, cpu_began = time.time(), cpu()
    at = 0.0
    while at + 9 <= seconds:
        line.speak_at, line._index = time.time(), 0  # the caller speaks (3.3 s of speech)
        await asyncio.sleep(4.5)
        said = "Your card is 4111 1111 1111 1111." if card and at == 0.0 else "Sure, Friday at three is free."
        await session.say(said)  # 4 s of agent audio
        at += 9
        await asyncio.sleep(max(began + at - time.time(), 0))
    line.closed = True
    call.end()
    call_seconds, call_cpu = time.time() - began, cpu() - cpu_began
    await session.aclose()
    hung_up, cpu_hung_up = time.time(), cpu()
    await job.run_shutdown()
    after, after_cpu = time.time() - hung_up, cpu() - cpu_hung_up
    await client.aclose()
    recording = getattr(call, "recording", None)
    size = 0
    if recording is not None and recording.entry is not None:
        size = uploaded_sizes[-1] if uploaded_sizes else 0
    return {"call_seconds": call_seconds, "call_cpu": call_cpu, "after_seconds": after, "after_cpu": after_cpu,
            "bytes": size}


uploaded_sizes: list[int] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=36.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    import django

    django.setup()
    from aiohttp import web

    from voiceworker.tests.fakes import ThreadedServer

    async def accept(request):
        uploaded_sizes.append(len(await request.read()))
        return web.json_response({"ok": True, "status": "stored"}, status=201)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/internal/calls/{call_id}/recording", accept)
    server = ThreadedServer(app)
    timeit = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    print(f"[bench] timeit sum(range(10000)): {timeit.stdout.strip()}; load average {os.getloadavg()}")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for run in range(1, args.runs + 1):
                rows = {}
                for name, record, card in (("off", False, False), ("on", True, False), ("on, card muted", True, True)):
                    rows[name] = asyncio.run(one_call(seconds=args.seconds, record=record, card=card,
                                                      api_url=server.url, spool=Path(scratch) / name))
                off = rows["off"]
                for name, row in rows.items():
                    extra = (row["call_cpu"] - off["call_cpu"]) / row["call_seconds"] * 1000
                    print(f"run {run} recording {name:15}: call {row['call_seconds']:.1f} s, worker CPU "
                          f"{row['call_cpu'] / row['call_seconds'] * 1000:.1f} ms per call-second "
                          f"(recording's share {extra:+.1f}); after hang-up {row['after_seconds'] * 1000:.0f} ms, "
                          f"CPU {row['after_cpu'] * 1000:.0f} ms; file "
                          f"{row['bytes'] / 1024 / (row['call_seconds'] / 60):.0f} KB per call-minute")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
