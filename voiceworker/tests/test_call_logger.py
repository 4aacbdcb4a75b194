"""The end-of-call log: teardown never waits past the bound, and a log that could not be sent is
spooled and arrives exactly once when the API is back."""
import asyncio
import json

from aiohttp import web

from voiceworker.call_logger import CallLogger
from voiceworker.tests.fakes import FakeApi, ThreadedServer, free_port_url

LOG = {"outcome": "answered", "end_reason": "Caller hung up.", "transcript": [], "tool_calls": []}


def test_teardown_returns_within_the_bound_when_the_api_is_slow(spool_dir):
    release = asyncio.Event()

    async def slow(request):
        await release.wait()
        return web.json_response({"ok": True}, status=202)

    api = FakeApi({"/internal/calls/call-1/log": slow})
    try:
        # The server answers only after deliver() has returned: if deliver waited for the answer
        # instead of its bound, this would hang (and fail on the outer guard).
        call_logger = CallLogger(api_url=api.url, spool_dir=spool_dir, send_timeout=0.2)
        delivered = asyncio.run(asyncio.wait_for(call_logger.deliver(call_id="call-1", call_token="t", log=LOG), 10))
        api.server.call_soon(release.set)
    finally:
        api.stop()
    assert delivered is False
    (spooled,) = call_logger.spooled()
    entry = json.loads(spooled.read_text())
    assert (entry["call_id"], entry["call_token"], entry["log"]) == ("call-1", "t", LOG)


def test_a_spooled_log_arrives_exactly_once_when_the_api_is_back(spool_dir):
    down = free_port_url()
    call_logger = CallLogger(api_url=down, spool_dir=spool_dir, send_timeout=1)
    assert asyncio.run(call_logger.deliver(call_id="call-2", call_token="tok", log=LOG)) is False
    assert asyncio.run(call_logger.resend_spooled()) == 0  # still down: kept
    assert len(call_logger.spooled()) == 1

    received = []

    async def accept(request):
        received.append((request.headers["Authorization"], await request.json()))
        return web.json_response({"ok": True, "status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/internal/calls/call-2/log", accept)
    server = ThreadedServer(app)
    try:
        call_logger.api_url = server.url
        assert asyncio.run(call_logger.resend_spooled()) == 1
        assert asyncio.run(call_logger.resend_spooled()) == 0
    finally:
        server.stop()
    assert received == [("Bearer tok", LOG)]
    assert call_logger.spooled() == []


def test_a_log_the_api_refuses_is_set_aside_not_retried_forever(spool_dir):
    async def refuse(request):
        return web.json_response({"ok": False, "error": {"code": "invalid_token", "message": "expired"}}, status=401)

    api = FakeApi({"/internal/calls/call-3/log": refuse})
    try:
        call_logger = CallLogger(api_url=free_port_url(), spool_dir=spool_dir, send_timeout=1)
        asyncio.run(call_logger.deliver(call_id="call-3", call_token="t", log=LOG))
        call_logger.api_url = api.url
        assert asyncio.run(call_logger.resend_spooled()) == 0
        assert asyncio.run(call_logger.resend_spooled()) == 0
    finally:
        api.stop()
    assert len(api.requests) == 1
    assert call_logger.spooled() == []
    assert [path.name for path in (spool_dir / "rejected").iterdir()] == ["call-3.json"]


def test_two_resenders_never_send_the_same_log(spool_dir):
    received = []

    async def accept(request):
        received.append(request.path)
        await asyncio.sleep(0.01)
        return web.json_response({"ok": True}, status=202)

    api = FakeApi({f"/internal/calls/call-{n}/log": accept for n in range(10)})
    try:
        call_logger = CallLogger(api_url=api.url, spool_dir=spool_dir)
        for n in range(10):
            call_logger.spool(call_id=f"call-{n}", call_token="t", log=LOG)

        async def both():
            other = CallLogger(api_url=api.url, spool_dir=spool_dir)
            return await asyncio.gather(call_logger.resend_spooled(), other.resend_spooled())

        assert sum(asyncio.run(both())) == 10
    finally:
        api.stop()
    assert sorted(received) == sorted(f"/internal/calls/call-{n}/log" for n in range(10))
