"""Figures of real calls through the local LiveKit server and SIP bridge into the production worker.

    .venv/bin/python bench/real_call.py --calls 5

Starts what `make run` starts (a private PostgreSQL and Redis unless DATABASE_URL/REDIS_URL are set, a
bench database `soniq_realcall_bench`, gunicorn, a Celery worker, the local line with the trunk made by
`sip_sync`, the voice worker) with the provider stand-ins at fixed delays, then places `--calls` calls
from a SIP phone (baresip) to the salon, each: the greeting, three caller lines, the goodbye and BYE;
and one transfer to a staff phone. Printed, p50 / p95 / max over all calls or turns:

- INVITE → 200 OK at the caller;
- 200 OK → the first greeting audio at the caller (the phone's recording starts with the media);
- the caller's end of speech → the first reply audio at the caller ("turn"), split at the first model
  request, and the part of it that is ours: the turn minus the framework's endpointing (its
  end-of-utterance delay, from the call log), the stand-ins' configured delays (the model's first token
  for every request of the reply, the voice's first audio) and the voice stand-in's own synthesis time
  (espeak-ng, measured);
- end_call → BYE (the goodbye's end in the recording → the BYE);
- REFER received → the call settled (the bridge's BYE to the caller after the staff phone answered).

The caller's lines and the agent's replies are placed on one clock: both the caller's WAV and the
phone's recording start when the call's media starts. Every figure is printed with the machine's
`python3 -m timeit "sum(range(10000))"` at start and end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.audio import Script, speech_segments  # noqa: E402
from devstack.livekit import LineConfig, LocalLine  # noqa: E402
from devstack.phone import SipPhone  # noqa: E402
from devstack.processes import ChildProcess, gunicorn, voice_worker  # noqa: E402
from devstack.standins import ProviderStandIns, ReceptionistTurns  # noqa: E402
from scripts.dev import Services  # noqa: E402

SALON = "+15550100001"
CALLER_LINES = [(6.0, "I would like to book a haircut please."),
                (12.0, "What time do you open on Saturday?"),
                (7.0, "Thank you, that is all, bye.")]


TRANSFERS_ON = """
import datetime as dt
from django_tenants.utils import schema_context
from tenants.agent.models import AgentSettings, EscalationHours
with schema_context("salon"):
    AgentSettings.objects.update(transfer_to="{uri}")
    EscalationHours.objects.all().delete()
    for weekday in range(7):
        EscalationHours.objects.create(weekday=weekday, starts=dt.time(0, 0), ends=dt.time(23, 59, 59))
"""


def timeit() -> str:
    result = subprocess.run([sys.executable, "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True)
    return result.stdout.strip()


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms  max {ordered[-1] * 1000:7.0f} ms  (n={len(ordered)})"


def connect(url: str, **kwargs):
    """psycopg from a DATABASE_URL as settings reads it (`?host=` may name a Unix-socket directory)."""
    from urllib.parse import parse_qs, unquote, urlparse

    import psycopg

    parsed = urlparse(url)
    return psycopg.connect(dbname=unquote(parsed.path.lstrip("/")) or "postgres", user=unquote(parsed.username or ""),
                           password=unquote(parsed.password or ""), port=parsed.port or 5432,
                           host=parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0], **kwargs)


def bench_database(base_url: str) -> str:
    name = "soniq_realcall_bench"
    path, _, query = base_url.partition("?")
    admin_url = path.rsplit("/", 1)[0] + "/postgres" + (f"?{query}" if query else "")
    with connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return path.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def stored_eou_ms(database_url: str, caller: str) -> float | None:
    """The framework's end-of-utterance delay (last speech → turn committed), averaged over the call, from
    its stored log (Celery stores it a moment after the call)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connect(database_url) as connection:
            row = connection.execute("SELECT avg_end_of_utterance_ms FROM salon.calls_call WHERE caller_number = %s "
                                     "AND log_stored_at IS NOT NULL ORDER BY started_at DESC LIMIT 1",
                                     [caller]).fetchone()
        if row:
            return row[0]
        time.sleep(0.5)
    return None


@dataclass
class BenchPlatform:
    line: LocalLine
    standins: ProviderStandIns
    env: dict[str, str]
    database_url: str
    worker: ChildProcess | None
    manage: list[str]


@contextmanager
def bench_platform(standins: ProviderStandIns, *, start_worker: bool = True, **env_extra: str) -> Iterator[BenchPlatform]:
    """What `make run` starts, for a bench: a private PostgreSQL and Redis (unless DATABASE_URL/REDIS_URL are
    set), a fresh bench database, the local line with the trunk made by `sip_sync`, gunicorn, a Celery
    worker and (unless `start_worker` is false: a bench starting its own per condition) the production voice
    worker, with `standins` as the providers. Stops all of it after."""
    services = Services()
    processes: list[ChildProcess] = []
    line = None
    try:
        urls = services.start(persistent_redis=False)
        database_url = bench_database(urls.get("DATABASE_URL") or os.environ["DATABASE_URL"])
        redis_url = urls.get("REDIS_URL") or os.environ["REDIS_URL"]
        line = LocalLine(LineConfig.free(redis_url=redis_url.rsplit("/", 1)[0] + "/3")).start()
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DEBUG": "1",
               "INTERNAL_API_TOKEN": "bench-internal-token", **line.config.settings(),
               "LIVEKIT_SIP_TRUNK_NAME": "soniq-bench", "LIVEKIT_SIP_ALLOWED_ADDRESSES": "127.0.0.1",
               **standins.settings(), **env_extra}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate_schemas", "--executor=standard", "-v", "0"], env=env, check=True, cwd=ROOT)
        subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run([*manage, "sip_sync"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        web, web_url = gunicorn(env)
        processes.append(web)
        env["SONIQ_API_URL"] = web_url
        processes.append(ChildProcess("celery", [sys.executable, "-m", "celery", "-A", "soniq_site", "worker",
                                                 "--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING"],
                                      env).start())
        worker = voice_worker(env) if start_worker else None
        if worker is not None:
            processes.append(worker)
        yield BenchPlatform(line=line, standins=standins, env=env, database_url=database_url, worker=worker,
                            manage=manage)
    finally:
        for process in reversed(processes):
            process.stop()
        standins.stop()
        if line is not None:
            line.stop()
        services.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--first-token", type=float, default=0.2, help="the model stand-in's first-token delay (s)")
    parser.add_argument("--first-audio", type=float, default=0.1, help="the voice stand-in's first-audio delay (s)")
    args = parser.parse_args()
    print("timeit at start:", timeit(), flush=True)

    standins = ProviderStandIns(first_token_seconds=args.first_token, first_audio_seconds=args.first_audio,
                                turns=ReceptionistTurns(goodbye_outcome="booked"))
    with bench_platform(standins) as platform:
        line, env, database_url, manage = platform.line, platform.env, platform.database_url, platform.manage
        figures: dict[str, list[float]] = {name: [] for name in
                                           ("invite_ok", "greeting", "turn", "eos_request", "request_audio_ours",
                                                         "answer_voice", "audio_heard",
                                                         "ours", "bye", "refer_settled")}
        workdir = Path(tempfile.mkdtemp(prefix="soniq-bench-"))
        for number in range(args.calls):
            caller = f"+1555888{number:04d}"
            standins.transcripts[:] = ["I'd like to book a haircut, please.", "What time do you open on Saturday?",
                                       "Thank you, that's all, bye."]
            wav, lines = Script(CALLER_LINES).render(workdir / f"caller-{number}.wav")
            phone = SipPhone(number=caller, audio=wav).start()
            try:
                phone.dial(f"sip:{SALON}@{line.config.sip_address}")
                phone.wait_event("CALL_ESTABLISHED", timeout=30)
                bye = phone.wait_received("BYE", timeout=90)
            finally:
                phone.stop()
            ok = phone.received(200)[0]
            figures["invite_ok"].append(ok.at - phone.dialled_at)
            heard, rate = phone.heard()
            speech = speech_segments(heard, rate)
            figures["greeting"].append(speech[0].start)
            eou = stored_eou_ms(database_url, caller)
            for spoken in lines:
                reply = next((segment for segment in speech if segment.start > spoken.end), None)
                if reply is None:
                    continue
                turn = reply.start - spoken.end
                figures["turn"].append(turn)
                # The voice stand-in's own time for the reply's first sentence (espeak-ng), which a
                # provider's first-audio delay would include.
                after = ok.at + spoken.end
                first_synthesis = next((took for started, took in standins.synthesis if started > after), 0.0)
                heard_at = ok.at + reply.start
                # Every model request of the reply (a booking is three: two tool calls, then the answer)
                # waited the stand-in's first-token delay.
                requests = [at for at in standins.chat_times if after < at < heard_at]
                stand_in = len(requests) * args.first_token + args.first_audio + first_synthesis
                # Where the rest goes: the last model request's answer → the voice request, and the voice's
                # first audio (its delay and synthesis done) → heard at the caller.
                voice = next(((at, took) for at, took in standins.synthesis if requests and at > requests[-1]
                              and at < heard_at), None)
                if requests and voice:
                    figures["answer_voice"].append(voice[0] - requests[-1] - args.first_token)
                    figures["audio_heard"].append(heard_at - (voice[0] + args.first_audio + voice[1]))
                if requests:
                    figures["eos_request"].append(requests[0] - after)
                    figures["request_audio_ours"].append(heard_at - requests[0] - stand_in)
                if eou is not None:
                    figures["ours"].append(turn - eou / 1000 - stand_in)
            # The goodbye is the last speech; the BYE follows its end (after the worker's grace).
            recording_start = ok.at
            figures["bye"].append(bye.at - (recording_start + speech[-1].end))
            print(f"call {number + 1}: turns {[round(t, 2) for t in figures['turn'][-len(lines):]]} s, "
                  f"end-of-utterance {eou} ms", flush=True)
        # One transfer: the staff phone answers; REFER at the caller → the bridge's BYE to the caller.
        staff = SipPhone(number="+15550100900", answer="auto").start()
        try:
            subprocess.run([*manage, "shell", "-c", TRANSFERS_ON.format(uri=f"sip:+15550100900@{staff.address}")],
                           env=env, check=True, cwd=ROOT)
            standins.transcripts[:] = ["Can I speak to a person, please?"]
            wav, _ = Script([(6.0, "Can I speak to a person please?")]).render(workdir / "transfer.wav")
            phone = SipPhone(number="+15558889999", audio=wav).start()
            try:
                phone.dial(f"sip:{SALON}@{line.config.sip_address}")
                refer = phone.wait_received("REFER", timeout=40)
                settled = phone.wait_received("BYE", timeout=40)
                figures["refer_settled"].append(settled.at - refer.at)
            finally:
                phone.stop()
        finally:
            staff.stop()
        print("timeit at end:", timeit())
        print(f"stand-in delays: model first token {args.first_token * 1000:.0f} ms, voice first audio "
              f"{args.first_audio * 1000:.0f} ms, speech-to-text endpointing {standins.endpoint_seconds * 1000:.0f} ms")
        for name, label in (("invite_ok", "INVITE → 200 OK"), ("greeting", "200 OK → greeting audio"),
                            ("turn", "end of speech → reply audio"),
                            ("eos_request", "  end of speech → model request"),
                            ("request_audio_ours", "  request → audio, minus stand-ins"),
                            ("answer_voice", "    model's answer → voice request"),
                            ("audio_heard", "    voice's first audio → caller"),
                            ("ours", "  ours (minus endpointing, stand-ins)"),
                            ("bye", "goodbye's end → BYE"), ("refer_settled", "REFER → call settled (BYE)")):
            print(f"{label:32s} {summary(figures[name])}")


if __name__ == "__main__":
    main()
