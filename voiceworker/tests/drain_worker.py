"""A real voice worker process for the drain tests: the production `build_server()` run by livekit's
CLI `start` (production mode, where SIGTERM drains), whose one job is simulated once the worker runs.
LiveKit itself is not reachable (LIVEKIT_URL points at a closed port): the worker keeps retrying to
register, which does not stop it from running and draining jobs.

    python -c "from voiceworker.tests.drain_worker import main; main()" JOB_SECONDS REPORT_DIR

(not `python -m`: the job processes import the job function by its module name.)
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path


async def timed_job(ctx) -> None:
    """Runs in the job process: a call that lasts JOB_SECONDS, marking its start, its end, and its
    shutdown callbacks running (where the production entrypoint closes the session and posts the
    call log). Like the production entrypoint, it returns once the call is under way."""
    report = json.loads(ctx.job.room.metadata)

    async def shut_down(reason: str) -> None:
        Path(report["dir"], "shut_down").write_text(reason)

    async def call() -> None:
        await asyncio.sleep(report["seconds"])
        Path(report["dir"], "ended").write_text(str(time.time()))
        ctx.shutdown(reason="call over")

    ctx.add_shutdown_callback(shut_down)
    ctx.proc.userdata["call"] = asyncio.create_task(call())
    Path(report["dir"], "started").write_text(str(time.time()))


def main() -> None:
    import django

    django.setup()
    from livekit.agents import cli
    from livekit.protocol import models

    from voiceworker.entrypoint import build_server

    seconds, report_dir = float(sys.argv[1]), sys.argv[2]
    server = build_server(job_entrypoint=timed_job)
    server.update_options(shutdown_process_timeout=2, num_idle_processes=1)
    real_run = server.run

    async def run_with_one_call(**options) -> None:
        async def simulate() -> None:
            while not getattr(server, "_proc_pool", None):
                await asyncio.sleep(0.05)
            room = models.Room(sid="RM_drain", name="drain-room",
                               metadata=json.dumps({"dir": report_dir, "seconds": seconds}))
            await server.simulate_job("drain-room", fake_job=True, room_info=room)

        task = asyncio.create_task(simulate())
        try:
            await real_run(**options)
        finally:
            task.cancel()

    server.run = run_with_one_call
    sys.argv = ["drain_worker", "start", "--log-level", os.environ.get("DRAIN_LOG_LEVEL", "warn")]
    cli.run_app(server)
