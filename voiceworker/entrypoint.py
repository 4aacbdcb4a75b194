"""The worker's door to LiveKit: the server (`build_server`: dispatch, the forkserver's preloads,
capacity), each job process's `prewarm`, and the job's `entrypoint` — one call, whose life is
`call_job.CallJob`.

This module is imported by every job process (the forkserver pickles the entrypoint by module path),
so it must not import Django models: it reads settings and talks HTTP, nothing else.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable

from django.conf import ENVIRONMENT_VARIABLE as SETTINGS_MODULE_ENV
from django.conf import settings
from livekit.agents import AgentServer, JobContext, JobProcess

from voiceworker.call_job import CallJob, callback_grant_of
from voiceworker.callback_call import CallbackCall
from voiceworker.providers import load_vad

FORKSERVER_PRELOAD = "voiceworker.forkserver_preload"


def prewarm(proc: JobProcess) -> None:
    """Once per job process, before it takes a call: the VAD, and Django's settings object (its
    module is already imported by the forkserver, see `build_server`). A job process forked by the
    forkserver inherits the VAD it loaded (`forkserver_preload`); anywhere else it loads its own."""
    inherited = getattr(sys.modules.get(FORKSERVER_PRELOAD), "vad", None)
    proc.userdata["vad"] = inherited if inherited is not None else load_vad()
    settings.SONIQ_API_URL  # noqa: B018 - the access is the point


async def entrypoint(ctx: JobContext) -> None:
    callback_grant = "" if ctx.is_fake_job() else callback_grant_of(ctx.job.metadata)
    if callback_grant:
        # A callback the agent returns: this job dials the customer (voiceworker/callback_call.py).
        await CallbackCall(CallJob(ctx), grant=callback_grant).run()
    else:
        await CallJob(ctx).run()


def build_server(*, job_entrypoint: Callable[[JobContext], Awaitable[None]] | None = None) -> AgentServer:
    """The worker: explicit dispatch to `VOICE_AGENT_NAME`, and what the forkserver preloads so each
    job process starts in milliseconds and shares what it can: this module, `forkserver_preload`
    (the Silero VAD and a warmed LLM request path, which each job process used to build for itself:
    bench/call_start.py measured private memory per call 57 -> 41 MB, a call's first LLM request
    112 -> ~33 ms) and the settings module (the module the job processes' lazy settings load: they
    inherit this environment). See docs/BENCHMARKS.md."""
    preload_modules = ["voiceworker.entrypoint", FORKSERVER_PRELOAD]
    if settings_module := os.environ.get(SETTINGS_MODULE_ENV):
        preload_modules.append(settings_module)
    # How full the worker tells LiveKit it is (calls against the measured capacity, and CPU), and
    # how long a SIGTERM waits for live calls: voiceworker/capacity.py.
    from voiceworker.capacity import LOAD_THRESHOLD, Capacity, load_function

    capacity = Capacity.from_env()
    server = AgentServer(
        setup_fnc=prewarm,
        preload_modules=preload_modules,
        ws_url=settings.LIVEKIT_URL or None,
        api_key=settings.LIVEKIT_API_KEY or None,
        api_secret=settings.LIVEKIT_API_SECRET or None,
        load_fnc=load_function(capacity),
        load_threshold=LOAD_THRESHOLD,
        drain_timeout=capacity.drain_timeout,
        # The health and metrics port: two workers on one host need two ports (0 = any free one).
        port=settings.VOICE_HEALTH_PORT,
    )
    # `job_entrypoint`: bench/call_start.py wraps the entrypoint (it must be importable by path).
    server.rtc_session(job_entrypoint or entrypoint, agent_name=settings.VOICE_AGENT_NAME)
    return server
