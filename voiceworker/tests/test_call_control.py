"""Transfer and hang-up with the real livekit-api client against a local Twirp endpoint."""
import asyncio

from livekit import api

from voiceworker.call_control import LiveKitCallControl, Transfer


def control_for(fake_livekit) -> tuple[LiveKitCallControl, api.LiveKitAPI]:
    lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret="a-secret-long-enough-for-hs256-signing")
    return LiveKitCallControl(lkapi=lkapi, room_name="call-room-1", participant_identity="sip_+15555550123"), lkapi


def run(fake_livekit, action):
    async def main():
        control, lkapi = control_for(fake_livekit)
        try:
            return await action(control)
        finally:
            await lkapi.aclose()
    return asyncio.run(main())


def test_it_transfers_the_sip_participant(fake_livekit):
    assert run(fake_livekit, lambda control: control.transfer("tel:+15550100900")) is Transfer.COMPLETED
    # The caller hears a dial tone while the transfer rings, not silence.
    assert fake_livekit.transfers == [{"room": "call-room-1", "participant_identity": "sip_+15555550123",
                                       "transfer_to": "tel:+15550100900", "play_dialtone": True}]
    assert fake_livekit.authorized == [True]


def test_a_busy_target_is_a_failed_transfer(fake_livekit):
    fake_livekit.transfer_outcome = "sip_error"
    assert run(fake_livekit, lambda control: control.transfer("sip:kitchen@pizzeria.example")) is Transfer.FAILED
    assert fake_livekit.transfers[0]["transfer_to"] == "sip:kitchen@pizzeria.example"


def test_a_failed_status_is_a_failed_transfer_even_without_an_error(fake_livekit):
    fake_livekit.transfer_outcome = "failed"
    assert run(fake_livekit, lambda control: control.transfer("tel:+15550100900")) is Transfer.FAILED


def test_an_ongoing_status_with_a_transfer_id_is_not_a_failure(fake_livekit):
    fake_livekit.transfer_outcome = "ongoing"
    assert run(fake_livekit, lambda control: control.transfer("tel:+15550100900")) is Transfer.ONGOING


def test_an_empty_answer_of_an_older_server_is_a_completed_transfer(fake_livekit):
    fake_livekit.transfer_outcome = "empty"
    assert run(fake_livekit, lambda control: control.transfer("tel:+15550100900")) is Transfer.COMPLETED


def test_hanging_up_deletes_the_room(fake_livekit):
    run(fake_livekit, lambda control: control.hang_up())
    assert fake_livekit.deleted_rooms == ["call-room-1"]


def test_hanging_up_with_livekit_down_does_not_raise():
    from voiceworker.tests.fakes import free_port_url

    async def main():
        lkapi = api.LiveKitAPI(url=free_port_url(), api_key="k", api_secret="a-secret-long-enough-for-hs256-signing")
        try:
            await LiveKitCallControl(lkapi=lkapi, room_name="r", participant_identity="p").hang_up()
        finally:
            await lkapi.aclose()

    asyncio.run(main())
