"""The worker tells LiveKit when it is full (calls against its capacity, and CPU), and a SIGTERM
drains: live calls finish, no new one is taken, and the worker exits once they end or at the timeout."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from livekit.protocol import models

from voiceworker.capacity import Capacity, load_function
from voiceworker.entrypoint import build_server
from voiceworker.tests.drain_worker import timed_job

SECRET_KEY = "voice-worker-job-process-test-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]


class FixedCpu:
    def __init__(self, value: float) -> None:
        self.current = value

    def value(self) -> float:
        return self.current


def test_the_load_is_the_share_of_the_call_capacity_in_use():
    capacity = Capacity(max_calls=16, cpu_full=0.85, drain_timeout=600)
    cpu = FixedCpu(0.1)
    load = load_function(capacity, cpu)

    class Server:
        active_jobs: list = []

    server = Server()
    loads = {}
    for calls in (0, 1, 4, 8, 15, 16, 20):
        server.active_jobs = [object()] * calls
        loads[calls] = load(server)
    assert loads == {0: pytest.approx(0.1 / 0.85), 1: pytest.approx(0.1 / 0.85), 4: 0.25, 8: 0.5, 15: 15 / 16,
                     16: 1.0, 20: 1.0}
    # A busy machine is full before its calls say so: other work, or calls dearer than measured.
    cpu.current = 0.9
    server.active_jobs = [object()] * 2
    assert load(server) == 1.0


def test_the_capacity_comes_from_the_environment_or_the_measured_calls_per_core(monkeypatch):
    from voiceworker import capacity

    for name in ("VOICE_MAX_CALLS", "VOICE_CPU_FULL", "VOICE_DRAIN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    measured = Capacity.from_env(cores=2)
    assert measured.max_calls == 2 * capacity.MEASURED_CALLS_PER_CORE
    assert (measured.cpu_full, measured.drain_timeout) == (0.85, 600)

    monkeypatch.setenv("VOICE_MAX_CALLS", "5")
    monkeypatch.setenv("VOICE_DRAIN_TIMEOUT", "90")
    assert Capacity.from_env(cores=2) == Capacity(max_calls=5, cpu_full=0.85, drain_timeout=90)
    monkeypatch.setenv("VOICE_MAX_CALLS", "many")
    with pytest.raises(ValueError, match="VOICE_MAX_CALLS must be a number"):
        Capacity.from_env(cores=2)
    monkeypatch.setenv("VOICE_MAX_CALLS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        Capacity.from_env(cores=2)


def test_a_worker_on_a_shared_host_can_be_sized_by_its_calls_alone(monkeypatch):
    monkeypatch.setenv("VOICE_MAX_CALLS", "4")
    monkeypatch.setenv("VOICE_CPU_FULL", "off")
    shared = Capacity.from_env(cores=2)
    # The machine's CPU is busy with other services: the worker still takes calls until it has four.
    assert shared.load(active_calls=1, cpu=1.0) == 0.25
    assert shared.load(active_calls=4, cpu=0.0) == 1.0


def test_the_production_worker_reports_full_at_its_call_capacity_and_takes_none_while_draining(
        monkeypatch, tmp_path, fresh_forkserver):
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("VOICE_MAX_CALLS", "2")
    # This test is about the calls (the CPU's share is the unit test's): the machine's CPU is shared.
    monkeypatch.setattr("voiceworker.capacity.CpuAverage.value", lambda self: 0.0)
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

    async def run():
        server = build_server(job_entrypoint=timed_job)
        server.update_options(shutdown_process_timeout=2, num_idle_processes=2)
        running = asyncio.create_task(server.run(devmode=True, unregistered=True))
        seen = {}
        try:
            while not getattr(server, "_proc_pool", None):
                await asyncio.sleep(0.05)
            for number in range(3):
                if number:
                    room = models.Room(sid=f"RM_{number}", name=f"room-{number}",
                                       metadata=json.dumps({"dir": str(tmp_path), "seconds": 30}))
                    await server.simulate_job(f"room-{number}", fake_job=True, room_info=room)
                    deadline = time.monotonic() + 60
                    while len(server.active_jobs) < number and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                await server._refresh_worker_load()
                seen[number] = (len(server.active_jobs), server._worker_load, server._is_available())
            drain = asyncio.create_task(server.drain(timeout=1))
            await asyncio.sleep(0.2)
            seen["draining"] = server._is_available()
            with pytest.raises(asyncio.TimeoutError):
                await drain
        finally:
            await server.aclose()
            running.cancel()
        return seen

    seen = asyncio.run(run())
    assert seen[0] == (0, 0.0, True)
    assert seen[1] == (1, 0.5, True)
    assert seen[2] == (2, 1.0, False)  # LiveKit is told FULL: the next call goes to another worker
    assert seen["draining"] is False


def run_worker_until_sigterm(tmp_path: Path, *, job_seconds: float, drain_timeout: int) -> tuple[float, float]:
    """Start a real worker process with one call of `job_seconds`; SIGTERM it once the call has
    started. Returns (seconds from SIGTERM to exit, the exit code)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "soniq_site.settings", "SECRET_KEY": SECRET_KEY,
           "LIVEKIT_URL": "ws://127.0.0.1:9", "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "devsecret-" * 4,
           "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0", "VOICE_DRAIN_TIMEOUT": str(drain_timeout)}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from voiceworker.tests.drain_worker import main; main()", str(job_seconds),
         str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (tmp_path / "started").exists():
            assert worker.poll() is None, worker.stderr.read()
            assert time.monotonic() < deadline, "the simulated call never started"
            time.sleep(0.05)
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=drain_timeout + 30)
        return time.monotonic() - sent, code
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_sigterm_lets_the_live_call_finish_before_the_worker_exits(tmp_path):
    waited, code = run_worker_until_sigterm(tmp_path, job_seconds=4, drain_timeout=60)

    assert (tmp_path / "ended").exists()  # the call was not cut off
    assert (tmp_path / "shut_down").read_text() == "call over"
    assert 2.5 <= waited < 30
    assert code == 0


def test_a_call_longer_than_the_drain_timeout_is_ended_at_the_timeout(tmp_path):
    waited, code = run_worker_until_sigterm(tmp_path, job_seconds=120, drain_timeout=2)

    assert not (tmp_path / "ended").exists()
    assert (tmp_path / "shut_down").exists()  # the call was ended the orderly way: its log is posted
    assert 2 <= waited < 10  # the timeout, then the job process's shutdown
