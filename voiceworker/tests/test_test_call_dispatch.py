"""A test call reaches the worker as a dispatch into a browser's room: the job's metadata carries the
platform-signed grant the admin put in the browser's LiveKit token, and the worker passes it to call
start, which names the business from it (no SIP attributes to read)."""
import asyncio

from livekit import api as livekit_api

from backoffice.tests.factories import SALON_HOST, SALON_OWNER, owner_client
from voiceworker.call_job import trial_grant_of

KEY, SECRET = "devkey", "a-local-livekit-secret-of-32-chars!"


def dispatch_metadata_from_the_admin(settings) -> str:
    settings.LIVEKIT_BROWSER_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "ws://127.0.0.1:7880", KEY, SECRET
    token = owner_client("salon", SALON_HOST, SALON_OWNER[0]).post("/admin/try/token").json()["token"]
    return livekit_api.TokenVerifier(KEY, SECRET).verify(token).room_config.agents[0].metadata


def test_the_worker_starts_the_test_call_its_dispatch_names(live_api, settings):
    from voiceworker.api_client import SoniqApiClient

    grant = trial_grant_of(dispatch_metadata_from_the_admin(settings))

    async def start():
        async with SoniqApiClient(base_url=settings.SONIQ_API_URL, internal_token=settings.INTERNAL_API_TOKEN) as client:
            return await client.start_call(called_number="", caller_number="", room="test-salon-x", sip_call_id="",
                                           test_grant=grant)

    started = asyncio.run(start())
    assert started.config.tenant == "salon" and started.config.test is True


def test_a_sip_call_has_no_grant_whatever_its_metadata():
    assert trial_grant_of("") == ""
    assert trial_grant_of("not json") == ""
    assert trial_grant_of('{"test_grant": 42}') == ""
    assert trial_grant_of('["test_grant"]') == ""
