"""Imported once, by the forkserver, before it forks any job process (`build_server` lists it).
What is done here is done once per worker instead of once per call, and every job process inherits
it copy-on-write.

- The Silero VAD. Its ONNX Runtime session is the largest thing a job process used to build for
  itself: ~17 MB of heap (ONNX Runtime's operator and kernel registries, the graph) and ~0.1 s.
  Each VAD stream keeps its own state and the session only reads its weights. The session starts
  no threads (one intra-op thread, sequential execution), so forking after it is as safe as after
  the ONNX Runtime import livekit already does in the forkserver.
- The LLM request path and the tools' schemas. The OpenAI SDK imports its chat-completions modules and builds their
  pydantic models on the first request, and the first request of a job process is the caller's
  first answer: ~80 ms of CPU on the event loop, while the caller waits and the VAD and STT queue
  up. One streamed completion with a tool call goes through the real plugin, SDK and HTTP
  transport here instead, answered by a one-shot server on a loopback port. asyncio.run() closes
  its loop and joins its resolver thread before the forkserver forks anything.

Nothing else imports this module: in the main process, under a thread executor and in tests the
prewarm loads its own VAD (`entrypoint.prewarm`) and the first request pays for itself.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import logging

import httpx2
import openai as openai_sdk
from livekit.agents import llm
from livekit.plugins import openai, silero

from core.call_contract import LlmConfig
from voiceworker.agent import SoniqAgent
from voiceworker.providers import load_vad, tools_with_their_schemas

logger = logging.getLogger("soniq.voiceworker")

# The model a call uses unless its config names another.
DEFAULT_LLM_MODEL = LlmConfig().model
# How long the LLM warm-up may hold up the forkserver (it takes ~0.3 s).
WARM_UP_TIMEOUT_SECONDS = 10.0


def _load_vad() -> silero.VAD | None:
    # An exception here would stop the forkserver itself (it only skips ImportErrors of preloads),
    # and with it every call; without a preloaded VAD each job process's prewarm loads its own.
    try:
        return load_vad()
    except Exception:
        logger.exception("could not preload the VAD; job processes will load their own")
        return None


vad = _load_vad()


def _streamed_completion() -> bytes:
    """What the chat-completions endpoint streams: a role, some text, a tool call, usage, done."""
    def event(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> str:
        chunk = {"id": "chatcmpl-warm-up", "object": "chat.completion.chunk", "created": 0,
                 "model": DEFAULT_LLM_MODEL, "choices": [] if delta is None else
                 [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n"

    tool_call = {"index": 0, "id": "call_warm_up", "type": "function",
                 "function": {"name": "log_note", "arguments": json.dumps({"note": "warm-up"})}}
    return "".join([
        event({"role": "assistant", "content": ""}), event({"content": "One moment."}),
        event({"tool_calls": [tool_call]}), event({}, "tool_calls"),
        event(None, usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}), "data: [DONE]\n\n",
    ]).encode()


async def _answer_one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    body = _streamed_completion()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n"
                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def _one_llm_request() -> None:
    """The real plugin, client and HTTP transport against a one-shot server on a loopback port."""
    server = await asyncio.start_server(_answer_one_request, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # trust_env=False: a proxy configured for the provider must not receive this request.
    client = openai_sdk.AsyncClient(api_key="warm-up", base_url=f"http://127.0.0.1:{port}/v1",
                                    http_client=httpx2.AsyncClient(trust_env=False))
    model = openai.LLM(model=DEFAULT_LLM_MODEL, client=client)
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="user", content="Hello")
    try:
        # The tools as every call's requests carry them: their schemas are built here, once, for every job process.
        tools = tools_with_their_schemas(SoniqAgent(instructions="", tools_offered=None).tools)
        async with model.chat(chat_ctx=chat_ctx, tools=tools) as stream:
            async for _chunk in stream:
                pass
    finally:
        await model.aclose()
        await client.close()
        server.close()
        await server.wait_closed()


def _warm_the_llm_request_path() -> None:
    try:
        asyncio.run(asyncio.wait_for(_one_llm_request(), WARM_UP_TIMEOUT_SECONDS))
    except Exception:
        # Only a warm-up: the first real request then pays for it.
        logger.warning("could not warm up the LLM request path", exc_info=True)


def _return_free_heap_to_the_os() -> None:
    # The VAD session and the warm-up free temporaries that glibc keeps mapped (~6 MB); every job
    # process would inherit them as resident memory.
    gc.collect()
    malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only
    if malloc_trim is not None:
        malloc_trim(0)


_warm_the_llm_request_path()
_return_free_heap_to_the_os()
