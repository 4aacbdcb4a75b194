"""The outbound SIP trunk on the real LiveKit server and SIP bridge: `sip_sync` makes it (pointing at the
platform's carrier port, every tenant number on it as a caller id), and the worker's dial helper
(voiceworker/outbound.py, which warm transfers and callbacks use) rings a phone at the carrier with the
tenant's number as the caller, and says when nobody could take the call."""
from __future__ import annotations

import asyncio

import pytest
from livekit import api
from livekit.protocol import sip as sip_proto

from voiceworker.outbound import DialOutcome, dial_into_room

pytestmark = [pytest.mark.realcall]

SALON_NUMBER = "+15550100001"
STAFF = "+15550100950"


def line_api(platform) -> api.LiveKitAPI:
    config = platform.line.config
    return api.LiveKitAPI(config.http_url, config.api_key, config.api_secret)


def dial(platform, *, room: str, to_number: str, ringing_timeout: float = 20):
    async def run():
        async with line_api(platform) as lkapi:
            return await dial_into_room(lkapi, room_name=room, to_number=to_number, from_number=SALON_NUMBER,
                                        participant_identity=f"dialled-{to_number}", ringing_timeout=ringing_timeout,
                                        attributes={"soniq.role": "test"})
    return asyncio.run(run())


def outbound_trunks(platform) -> list[sip_proto.SIPOutboundTrunkInfo]:
    async def run():
        async with line_api(platform) as lkapi:
            return list((await lkapi.sip.list_outbound_trunk(sip_proto.ListSIPOutboundTrunkRequest())).items)
    return asyncio.run(run())


def room_participants(platform, room: str) -> dict[str, dict[str, str]]:
    async def run():
        async with line_api(platform) as lkapi:
            listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
            return {p.identity: dict(p.attributes) for p in listed.participants}
    return asyncio.run(run())


def delete_room(platform, room: str) -> None:
    async def run():
        async with line_api(platform) as lkapi:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
    try:
        asyncio.run(run())
    except api.TwirpError:
        pass


def test_it_makes_the_outbound_trunk_and_the_dial_helper_rings_the_carrier_with_the_tenants_number(
        platform, committed_db):
    from tenants.models import PhoneNumber

    trunks = [trunk for trunk in outbound_trunks(platform) if trunk.name == "soniq-outbound"]
    assert len(trunks) == 1
    assert trunks[0].address == f"127.0.0.1:{platform.carrier_port}"
    assert set(trunks[0].numbers) == set(PhoneNumber.objects.values_list("number", flat=True))

    staff = platform.carrier_phone(STAFF, answer="auto")
    try:
        result = dial(platform, room="outbound-answered", to_number=STAFF)
        invite = staff.wait_received("INVITE", timeout=10)
        staff.wait_event("CALL_ESTABLISHED", timeout=10)
        assert result.outcome is DialOutcome.ANSWERED, result
        # The person called sees the business's own number, and the call lands in the room.
        assert SALON_NUMBER in invite.headers["from"]
        assert invite.first_line.startswith(f"INVITE sip:{STAFF}@127.0.0.1:{platform.carrier_port}")
        participants = room_participants(platform, "outbound-answered")
        assert participants[f"dialled-{STAFF}"]["soniq.role"] == "test"
        assert participants[f"dialled-{STAFF}"]["sip.callStatus"] == "active"
    finally:
        delete_room(platform, "outbound-answered")
        staff.stop()


@pytest.mark.parametrize(("answer", "outcome"), [("busy", DialOutcome.BUSY), ("ignore", DialOutcome.NO_ANSWER)])
def test_it_says_why_a_dialled_phone_did_not_answer(platform, committed_db, answer, outcome):
    staff = platform.carrier_phone(STAFF, answer=answer)
    try:
        result = dial(platform, room=f"outbound-{answer}", to_number=STAFF, ringing_timeout=5)
        staff.wait_received("INVITE", timeout=5)
        assert result.outcome is outcome, result
        assert f"dialled-{STAFF}" not in room_participants(platform, f"outbound-{answer}")
    finally:
        delete_room(platform, f"outbound-{answer}")
        staff.stop()
