"""The real livekit OpenAI plugin against a local OpenAI-compatible streaming endpoint: what the worker
sends (model, tools with their schemas) and that a streamed tool call runs the tool."""
import asyncio
import json

from aiohttp import web
from livekit.agents import AgentSession

from core.call_contract import TOOL_NAMES, CallConfig, LlmConfig
from voiceworker.agent import SoniqAgent
from voiceworker.api_client import SoniqApiClient
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_record import CallRecorder
from voiceworker.call_state import CallState
from voiceworker.providers import build_llm
from voiceworker.tests.fakes import FakeApi


def test_the_worker_asks_the_model_with_its_tools_and_runs_the_tool_it_picks(fake_openai, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    fake_openai.steps = [
        {"tool_calls": [("log_note", {"note": "Allergic to hair dye."})]},
        {"content": "I've noted that."},
    ]

    async def note(request):
        return web.json_response({"ok": True, "result": {"note_id": 5}, "message": "I've made a note of that."})

    api = FakeApi({"/internal/voice-tools/log_note": note})

    async def run():
        client = SoniqApiClient(base_url=api.url)
        call = CallState(call_id="c1", call_token="call-token", config=CallConfig(language="en"), api=client,
                         control=LoggingCallControl(), recorder=CallRecorder(language="en"), filler_delay=60)
        model = build_llm(CallConfig(llm=LlmConfig(model="gpt-4.1-mini")))
        session = AgentSession(llm=model, vad=None, turn_handling={"turn_detection": None}, userdata=call)
        call.recorder.attach(session)
        await session.start(SoniqAgent(instructions="You are the receptionist."), record=False)
        result = await asyncio.wait_for(session.run(user_input="Note that I'm allergic to hair dye."), 20)
        await session.aclose()
        await client.aclose()
        return result, call

    try:
        result, call = asyncio.run(run())
    finally:
        api.stop()

    request = fake_openai.requests[0]
    assert request["model"] == "gpt-4.1-mini"
    assert request["stream"] is True
    assert request["messages"][0]["content"] == "You are the receptionist."
    tools = {tool["function"]["name"]: tool["function"] for tool in request["tools"]}
    assert sorted(tools) == sorted(TOOL_NAMES)
    booking = tools["create_booking"]
    assert booking["strict"] is True
    assert set(booking["parameters"]["required"]) == {"service", "start", "customer_name", "customer_phone", "notes",
                                                      "confirmed"}
    assert "check_availability showed the time is free" in booking["description"]
    order = tools["create_order"]["parameters"]
    assert order["properties"]["items"]["items"] == {"$ref": "#/$defs/OrderItem"}
    assert set(order["$defs"]["OrderItem"]["properties"]) == {"name", "quantity", "notes"}
    assert tools["end_call"]["parameters"]["properties"]["outcome"]["enum"] == [
        "booked", "ordered", "answered", "transferred", "callback", "other"]

    # The streamed tool call ran the tool: the API got the note with the call's token ...
    path, headers, body = api.requests[0]
    assert (path, headers["Authorization"], body) == ("/internal/voice-tools/log_note", "Bearer call-token",
                                                      {"note": "Allergic to hair dye."})
    # ... and the model's next request carried the tool's answer.
    tool_message = next(message for message in fake_openai.requests[1]["messages"] if message["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"result": {"note_id": 5}, "message": "I've made a note of that."}
    result.expect.next_event().is_function_call(name="log_note", arguments={"note": "Allergic to hair dye."})
    result.expect.next_event().is_function_call_output()
    result.expect.next_event().is_message(role="assistant")
    assert call.recorder.tool_calls[0]["name"] == "log_note"
