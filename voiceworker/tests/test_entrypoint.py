"""The job's pieces: who is calling from the SIP attributes, the session built from the tenant's
config, the end-of-call log, and a real job process started by the forkserver."""
import asyncio
import time

from aiohttp import web
from livekit.agents import AgentSession

from core.call_contract import CallConfig
from voiceworker.call_control import LoggingCallControl
from voiceworker.call_job import SipCall
from voiceworker.call_state import CallState
from voiceworker.entrypoint import build_server
from voiceworker.presence import CallerPresence
from voiceworker.providers import build_session
from voiceworker.tests.fakes import FakeApi

CONFIG = CallConfig.model_validate({
    "language": "de-DE",
    "voice": {"provider": "cartesia", "model": "sonic-3", "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091",
              "speed": 1.1},
    "stt": {"provider": "deepgram", "model": "nova-3", "language": "multi"},
    "llm": {"provider": "openai", "model": "gpt-4.1-mini"},
})


def test_it_reads_who_called_whom_from_the_sip_attributes():
    sip_call = SipCall.from_attributes({
        "sip.trunkPhoneNumber": "+15550100001", "sip.phoneNumber": "+15555550123", "sip.callID": "SCL_abc",
        "sip.ruleID": "SDR_x", "sip.callStatus": "active",
    })
    assert sip_call == SipCall(called_number="+15550100001", caller_number="+15555550123", sip_call_id="SCL_abc",
                               call_status="active")


def test_a_withheld_number_is_an_empty_caller():
    assert SipCall.from_attributes({"sip.trunkPhoneNumber": "+15550100001"}).caller_number == ""


def test_the_session_uses_the_tenants_providers_and_options(settings):
    settings.DEEPGRAM_API_KEY, settings.OPENAI_API_KEY, settings.CARTESIA_API_KEY = "dg-key", "oa-key", "ca-key"
    settings.OPENAI_BASE_URL = ""

    async def build():
        call = CallState(call_id="c", call_token="t", config=CONFIG, api=None, control=LoggingCallControl())
        session = build_session(CONFIG, vad_model=None, userdata=call)
        return session, call

    session, call = asyncio.run(build())
    assert isinstance(session, AgentSession) and session.userdata is call
    assert (session.stt.model, session.stt._opts.language) == ("nova-3", "multi")
    assert session.llm.model == "gpt-4.1-mini"
    assert (session.tts.model, session.tts._opts.voice, session.tts._opts.speed, session.tts._opts.language) == (
        "sonic-3", "a0e99841-438c-4a64-b679-ae501e7d6091", 1.1, "de")
    # Turn detection and interruptions that run locally, not on LiveKit Cloud: livekit's end-of-turn
    # model in its local version (German is one of its languages), the VAD for interruptions.
    assert session.turn_detection.model == "turn-detector-v1-mini"
    assert session.options.interruption["mode"] == "vad"


def test_the_llm_honours_an_openai_compatible_base_url(settings):
    from voiceworker.providers import build_llm

    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:8080/v1"
    model = build_llm(CONFIG)
    assert str(model._client.base_url) == "http://127.0.0.1:8080/v1/"


def test_the_worker_dispatches_explicitly_by_agent_name(settings):
    settings.VOICE_AGENT_NAME = "soniq-test"
    server = build_server()
    assert server._agent_name == "soniq-test"
    assert server._preload_modules == ["voiceworker.entrypoint", "voiceworker.forkserver_preload", "soniq_site.settings"]


def test_a_job_process_starts_under_the_forkserver_and_reaches_the_api(monkeypatch, settings, fresh_forkserver):
    """A real job process (forkserver, as in production) runs the entrypoint: it imports this module
    without Django's app registry, reads settings, and starts the call through the API. The number is
    unknown here, so the job then apologises and hangs up."""
    started = []

    async def unknown_number(request):
        started.append(await request.json())
        return web.json_response({"ok": False, "error": {"code": "unknown_number", "message": "No."}}, status=404)

    api = FakeApi({"/internal/calls/start": unknown_number})
    monkeypatch.setenv("SONIQ_API_URL", api.url)
    monkeypatch.setenv("INTERNAL_API_TOKEN", "test-internal-token")
    monkeypatch.setenv("VOICE_CONSOLE_NUMBER", "+15550009999")
    # The job process loads settings outside pytest, as production does: it needs a secret key.
    monkeypatch.setenv("SECRET_KEY", "voice-worker-job-process-test-secret-key-0123456789")
    for name in ("CARTESIA_API_KEY", "DEEPGRAM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, "not-used")

    async def run():
        server = build_server()
        server.update_options(shutdown_process_timeout=2)
        running = asyncio.create_task(server.run(devmode=True, unregistered=True))
        try:
            while not getattr(server, "_proc_pool", None):
                await asyncio.sleep(0.05)
            await server.simulate_job("smoke-room", fake_job=True)
            deadline = time.monotonic() + 60
            while not started and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await server.aclose()
            running.cancel()

    try:
        asyncio.run(run())
    finally:
        api.stop()
    assert started == [{"called_number": "+15550009999", "caller_number": "", "room": "console",
                        "sip_call_id": started[0]["sip_call_id"]}]
    assert started[0]["sip_call_id"].startswith("console-mock-job-")


def test_the_api_resolves_the_tenant_from_the_dialled_number(live_api, friday_noon):
    from django.conf import settings

    from voiceworker.api_client import SoniqApiClient, UnknownNumber

    async def start(number):
        async with SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN) as client:
            try:
                return await client.start_call(called_number=number, caller_number="+15555550123", room="r",
                                               sip_call_id="s")
            except UnknownNumber:
                return None

    # Any common format of the number, as SIP trunks send it.
    salon = asyncio.run(start("+1 (555) 010-0001"))
    assert salon.config.tenant == "salon" and salon.config.greeting.startswith("Thanks for calling Bella")
    assert asyncio.run(start("+15550109999")) is None


def test_a_fake_jobs_caller_is_present_though_the_mock_room_lists_nobody():
    """Console mode and simulated jobs run in livekit's mock room, whose participant list is empty:
    the caller must not count as gone at once (the greeting would never be said)."""
    from livekit.agents.ipc.mock_room import create_mock_room

    async def scenario():
        room = create_mock_room()
        console = CallerPresence(room=room, identity="console-user", present_now=False)
        real_room_check = CallerPresence(room=room, identity="console-user")
        return console.gone.is_set(), real_room_check.gone.is_set()

    assert asyncio.run(scenario()) == (False, True)

