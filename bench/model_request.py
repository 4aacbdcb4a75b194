"""CPU of one model request in a job process, with and without the tools' schemas built once.

    DEBUG=1 .venv/bin/python bench/model_request.py [--requests 40]

The framework asks the model on the caller's final transcript; what the job process does between that
moment and the request leaving is the SDK's and our code's CPU per turn. This drives the worker's own
model client (`providers.build_llm`: the OpenAI plugin, the SDK, httpx) with the ten tools of the agent
and a twelve-turn chat context against a local streaming endpoint, and prints, alternately
(A/B/A/B, the same process), the CPU per request (the request and its short streamed answer) with the
tools as the worker sends them (`tools_with_their_schemas`: schemas built once) and as the plugin
would rebuild them; the wall time from `chat()` to the request at the endpoint; the cProfile of the
worker's path; and the CPU of building the model client with the shared TLS context and without.
Printed with the machine's `python3 -m timeit "sum(range(10000))"` at start and end.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")
os.environ.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1/unused")  # nothing here opens it
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

import django  # noqa: E402

django.setup()

import httpx2  # noqa: E402
from django.conf import settings  # noqa: E402
from livekit.agents import llm  # noqa: E402

from bench.real_call import timeit  # noqa: E402
from core.call_contract import CallConfig, LlmConfig  # noqa: E402
from voiceworker import providers  # noqa: E402
from voiceworker.agent import SoniqAgent  # noqa: E402

ANSWER = (b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
          b'"delta":{"role":"assistant","content":"We open at nine."},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


async def main(requests: int) -> None:
    arrivals: list[float] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            arrivals.append(time.perf_counter())
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(ANSWER), ANSWER))
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    settings.OPENAI_API_KEY = "bench"
    model = providers.build_llm(CallConfig(llm=LlmConfig(model="gpt-4.1-mini")))
    tools = SoniqAgent(instructions="", tools_offered=None).tools
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="system", content="You are the receptionist of a hair salon. " * 60)
    for turn in range(12):
        chat_ctx.add_message(role="user", content=f"What time do you open on Saturday, the {turn + 1}th?")
        chat_ctx.add_message(role="assistant", content="We open at nine. Is there anything else I can do for you?")
    cached = providers.tools_with_their_schemas

    async def one() -> float:
        started, before = time.perf_counter(), len(arrivals)
        async with model.chat(chat_ctx=chat_ctx, tools=tools) as stream:
            async for _chunk in stream:
                pass
        return arrivals[before] - started

    for _ in range(5):
        await one()
    for label in ("schemas built once", "schemas rebuilt per request") * 2:
        providers.tools_with_their_schemas = cached if label == "schemas built once" else (lambda given: given)
        cpu, waits = time.process_time(), sorted([await one() for _ in range(requests)])
        print(f"{label:28s} CPU {(time.process_time() - cpu) / requests * 1000:6.2f} ms per request; chat() → "
              f"request at the endpoint p50 {waits[len(waits) // 2] * 1000:.1f} ms", flush=True)
    providers.tools_with_their_schemas = cached
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(requests):
        await one()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(14)
    print("cProfile, the worker's path (schemas built once):")
    print("\n".join(line for line in out.getvalue().splitlines() if "site-packages" in line or "ncalls" in line))
    await model.aclose()
    await asyncio.sleep(0.2)  # the endpoint sees the client's connection close
    server.close()

    cpu = time.process_time()
    for _ in range(10):
        httpx2.AsyncClient()
    own = (time.process_time() - cpu) / 10
    cpu = time.process_time()
    for _ in range(10):
        httpx2.AsyncClient(verify=providers.MODEL_CLIENT_TLS)
    shared = (time.process_time() - cpu) / 10
    print(f"building a model client's HTTP client: {own * 1000:.1f} ms of CPU with its own TLS context, "
          f"{shared * 1000:.2f} ms with the shared one")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    print("timeit at start:", timeit(), flush=True)
    asyncio.run(main(args.requests))
    print("timeit at end:", timeit(), flush=True)
