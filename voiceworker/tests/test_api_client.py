"""The tools client: auth, timeout, Idempotency-Key kept across the one retry, what the model reads
back, and the filler on slow tool calls. Against small local servers that misbehave on purpose."""
import asyncio
import json

import pytest
from aiohttp import web
from livekit.agents import AgentSession

from core.call_contract import TOOLS, CallConfig
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import ApiUnavailable, SoniqApiClient, UnknownNumber
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_record import CallRecorder
from voiceworker.call_state import CallState
from voiceworker.tests.fakes import FakeApi, ScriptedLLM, free_port_url


@pytest.fixture
def fake_api_factory():
    servers = []

    def make(routes):
        server = FakeApi(routes)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def ok(result, message="Done."):
    async def handler(request):
        return web.json_response({"ok": True, "result": result, "message": message})
    return handler


def test_it_sends_the_call_token_and_returns_the_result(fake_api_factory):
    api = fake_api_factory({"/internal/voice-tools/log_note": ok({"note_id": 7}, "I've made a note of that.")})

    async def run():
        async with SoniqApiClient(base_url=api.url) as client:
            return await client.call_tool(call_token="token-abc", action="log_note", payload={"note": "hi"})

    reply = asyncio.run(run())
    assert (reply.ok, reply.result, reply.message) == (True, {"note_id": 7}, "I've made a note of that.")
    path, headers, body = api.requests[0]
    assert (path, headers["Authorization"], body) == ("/internal/voice-tools/log_note", "Bearer token-abc", {"note": "hi"})


def test_it_keeps_the_idempotency_key_when_it_retries_a_dropped_create(fake_api_factory):
    attempts = []

    async def drop_first_then_answer(request):
        attempts.append(request.headers.get("Idempotency-Key"))
        if len(attempts) == 1:
            # The request arrived, then the connection died: the API may have booked already.
            request.transport.close()
            return web.Response()
        return web.json_response({"ok": True, "result": {"booking_id": 1}, "message": "Booked."})

    api = fake_api_factory({"/internal/voice-tools/create_booking": drop_first_then_answer})

    async def run():
        async with SoniqApiClient(base_url=api.url) as client:
            call = CallState(call_id="c1", call_token="t", config=CallConfig(), api=client, control=LoggingCallControl())
            return await call.run_tool("create_booking", {"service": "haircut"})

    reply = asyncio.run(run())
    assert reply.ok
    assert len(attempts) == 2 and attempts[0] == attempts[1] and attempts[0]


def test_it_does_not_retry_a_dropped_request_that_is_not_safe_to_repeat(fake_api_factory):
    attempts = []

    async def drop(request):
        attempts.append(1)
        request.transport.close()
        return web.Response()

    api = fake_api_factory({"/internal/voice-tools/log_note": drop})

    async def run():
        async with SoniqApiClient(base_url=api.url) as client:
            await client.call_tool(call_token="t", action="log_note", payload={"note": "x"})

    with pytest.raises(ApiUnavailable):
        asyncio.run(run())
    assert len(attempts) == 1


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_every_tool_is_retried_and_keyed_as_the_tool_table_says(fake_api_factory, tool):
    attempts = []

    async def drop_first_then_answer(request):
        attempts.append(request.headers.get("Idempotency-Key"))
        if len(attempts) == 1:
            request.transport.close()  # it arrived, then the connection died
            return web.Response()
        return web.json_response({"ok": True, "result": {}, "message": "Done."})

    api = fake_api_factory({f"/internal/voice-tools/{tool.name}": drop_first_then_answer})

    async def run():
        async with SoniqApiClient(base_url=api.url, retry_delay=0) as client:
            call = CallState(call_id="c1", call_token="t", config=CallConfig(), api=client, control=LoggingCallControl())
            return await call.run_tool(tool.name, {"note": "x"})

    if tool.repeatable:
        assert asyncio.run(run()).ok
        assert len(attempts) == 2
    else:
        with pytest.raises(ApiUnavailable):
            asyncio.run(run())
        assert len(attempts) == 1
    assert all(attempts) if tool.keyed else not any(attempts)


def test_it_gives_up_after_its_timeout(fake_api_factory):
    release = asyncio.Event()

    async def never_answers(request):
        await release.wait()
        return web.json_response({})

    api = fake_api_factory({"/internal/voice-tools/check_availability": never_answers})

    async def run():
        async with SoniqApiClient(base_url=api.url, timeout=0.2) as client:
            await client.call_tool(call_token="t", action="check_availability", payload={})

    with pytest.raises(ApiUnavailable, match="timed out"):
        asyncio.run(run())
    api.server.call_soon(release.set)


def test_it_reports_an_api_that_is_down():
    async def run():
        async with SoniqApiClient(base_url=free_port_url(), retry_delay=0) as client:
            await client.call_tool(call_token="t", action="check_availability", payload={})

    with pytest.raises(ApiUnavailable, match="cannot connect"):
        asyncio.run(run())


def test_it_recognises_an_unknown_number(fake_api_factory):
    async def unknown(request):
        return web.json_response({"ok": False, "error": {"code": "unknown_number", "message": "No such business."}},
                                 status=404)

    api = fake_api_factory({"/internal/calls/start": unknown})

    async def run():
        async with SoniqApiClient(base_url=api.url, internal_token="internal") as client:
            await client.start_call(called_number="+15550000000", caller_number="", room="r", sip_call_id="s")

    with pytest.raises(UnknownNumber):
        asyncio.run(run())
    assert api.requests[0][1]["Authorization"] == "Bearer internal"


# --- what the model reads back --------------------------------------------------------------------

def run_one_tool_call(api_url, tool_call, *, filler_delay=60.0):
    """A text-mode session whose model makes one tool call; returns (tool output item, call state)."""
    model = ScriptedLLM([{"tool_calls": [tool_call]}, {"content": "Right."}])

    async def run():
        client = SoniqApiClient(base_url=api_url, timeout=0.5, retry_delay=0)
        call = CallState(call_id="c1", call_token="t", config=CallConfig(language="en"), api=client,
                         control=LoggingCallControl(), recorder=CallRecorder(language="en"), filler_delay=filler_delay)
        session = AgentSession(llm=model, vad=None, turn_handling={"turn_detection": None}, userdata=call)
        call.recorder.attach(session)
        await session.start(SoniqAgent(instructions="test"), record=False)
        result = await asyncio.wait_for(session.run(user_input="go"), 10)
        await session.aclose()
        await client.aclose()
        (output,) = [event.item for event in result.events if event.type == "function_call_output"]
        return output, call

    return asyncio.run(run())


def started(fake_api_factory, config: object):
    async def start(request):
        return web.json_response({"call_id": "c1", "call_token": "t", "config": config}, status=201)

    api = fake_api_factory({"/internal/calls/start": start})

    async def run():
        async with SoniqApiClient(base_url=api.url, internal_token="internal") as client:
            return await client.start_call(called_number="+15550100001", caller_number="", room="r", sip_call_id="s")

    return asyncio.run(run())


def test_a_config_the_worker_cannot_read_is_an_unavailable_api(fake_api_factory):
    # The caller then hears the apology, not a call run on half a config.
    with pytest.raises(ApiUnavailable, match="max_call_seconds"):
        started(fake_api_factory, {"max_call_seconds": "ten minutes", "tools": []})
    with pytest.raises(ApiUnavailable, match="config"):
        started(fake_api_factory, ["not", "an", "object"])


def test_a_config_field_left_out_is_the_contracts_default_and_a_zero_is_a_zero(fake_api_factory):
    from voiceworker.call_job import build_watchdog

    start = started(fake_api_factory, {"language": "de", "warnings": {"first_seconds": 90, "final_seconds": 0},
                                       "field_of_a_newer_api": True})
    assert (start.config.language, start.config.max_call_seconds, start.config.llm.model) == ("de", 600, "gpt-4.1-mini")
    call = CallState(call_id=start.call_id, call_token=start.call_token, config=start.config, api=None,
                     control=LoggingCallControl())
    watchdog = build_watchdog(None, call)
    # A final warning of 0 seconds is none (it used to become the default 30).
    assert [(stage.name, stage.at_seconds) for stage in watchdog.stages] == [("first_warning", 510), ("time_up", 600)]


def test_the_model_reads_json_on_success(fake_api_factory):
    api = fake_api_factory({"/internal/voice-tools/log_note": ok({"note_id": 3}, "Noted.")})
    output, _ = run_one_tool_call(api.url, ("log_note", {"note": "x"}))
    assert not output.is_error
    assert json.loads(output.output) == {"result": {"note_id": 3}, "message": "Noted."}


def test_the_model_reads_the_apis_sentence_on_a_4xx(fake_api_factory):
    async def refuse(request):
        return web.json_response({"ok": False, "error": {"code": "unknown_service",
                                                         "message": "We offer Haircut, Colour and Blow Dry."}}, status=422)

    api = fake_api_factory({"/internal/voice-tools/check_availability": refuse})
    output, _ = run_one_tool_call(api.url, ("check_availability", {"service": "massage", "date": "2026-12-08", "time": None}))
    assert output.is_error
    assert output.output == "We offer Haircut, Colour and Blow Dry."


def test_the_model_reads_an_apology_on_a_5xx(fake_api_factory):
    async def fail(request):
        return web.json_response({"ok": False, "error": {"code": "internal_error", "message": "boom"}}, status=500)

    api = fake_api_factory({"/internal/voice-tools/log_note": fail})
    output, _ = run_one_tool_call(api.url, ("log_note", {"note": "x"}))
    assert output.is_error
    assert output.output.startswith("Our system did not answer just now. Apologise briefly")


def test_end_call_hangs_up_even_when_the_api_is_down():
    output, call = run_one_tool_call(free_port_url(), ("end_call", {"outcome": "answered", "reason": "Done"}))
    assert not output.is_error
    assert call.control.hung_up and call.over
    assert (call.outcome, call.end_reason) == ("answered", "Done")
    assert [turn["text"] for turn in call.recorder.transcript if turn["role"] == "assistant"] == [
        "Thank you for calling. Goodbye!"]


def test_a_slow_tool_call_gets_one_filler(fake_api_factory):
    answered = asyncio.Event()

    async def slow(request):
        # Answers only when told, which the test does once the filler has been said: no clock involved.
        await answered.wait()
        return web.json_response({"ok": True, "result": {"note_id": 1}, "message": "Noted."})

    api = fake_api_factory({"/internal/voice-tools/log_note": slow})
    model = ScriptedLLM([{"tool_calls": [("log_note", {"note": "x"})]}, {"content": "Right."}])

    async def run():
        client = SoniqApiClient(base_url=api.url, timeout=10)
        call = CallState(call_id="c1", call_token="t", config=CallConfig(language="en"), api=client,
                         control=LoggingCallControl(), recorder=CallRecorder(language="en"), filler_delay=0.05)
        session = AgentSession(llm=model, vad=None, turn_handling={"turn_detection": None}, userdata=call)
        call.recorder.attach(session)

        def release_when_filler_said(event):
            if getattr(event.item, "role", None) == "assistant" and event.item.text_content == "One moment.":
                api.server.call_soon(answered.set)

        session.on("conversation_item_added", release_when_filler_said)
        await session.start(SoniqAgent(instructions="test"), record=False)
        await asyncio.wait_for(session.run(user_input="go"), 10)
        await session.aclose()
        await client.aclose()
        return [turn["text"] for turn in call.recorder.transcript if turn["role"] == "assistant"]

    assert asyncio.run(run()) == ["One moment.", "Right."]
