"""Transfer and hang-up with the real livekit-api client against a local Twirp endpoint."""
import asyncio

from livekit import api

from voiceworker.call_control import LiveKitCallControl, Transfer


def control_for(fake_livekit, **kwargs) -> tuple[LiveKitCallControl, api.LiveKitAPI]:
    lkapi = api.LiveKitAPI(url=fake_livekit.url, api_key="devkey", api_secret="a-secret-long-enough-for-hs256-signing")
    return LiveKitCallControl(lkapi=lkapi, room_name="call-room-1", participant_identity="sip_+15555550123",
                              **kwargs), lkapi


def transfer(target: str, *, ringing_timeout: float = 18, headers: dict[str, str] | None = None):
    return lambda control: control.transfer(target, ringing_timeout=ringing_timeout, headers=headers or {})


def run(fake_livekit, action, **kwargs):
    async def main():
        control, lkapi = control_for(fake_livekit, **kwargs)
        try:
            return await action(control)
        finally:
            await lkapi.aclose()
    return asyncio.run(main())


def test_it_transfers_the_sip_participant(fake_livekit):
    result = run(fake_livekit, transfer("tel:+15550100900", ringing_timeout=12,
                                        headers={"X-Soniq-Reason": "wants to move a booking"}))
    assert result.status is Transfer.COMPLETED and result.ended == "answered"
    # The caller hears a dial tone while the transfer rings, not silence; it rings for the business's
    # timeout, and the REFER tells the person why the caller called.
    assert fake_livekit.transfers == [{"room": "call-room-1", "participant_identity": "sip_+15555550123",
                                       "transfer_to": "tel:+15550100900", "play_dialtone": True,
                                       "ringing_timeout": 12, "headers": {"X-Soniq-Reason": "wants to move a booking"}}]
    assert fake_livekit.authorized == [True]


def test_a_busy_target_is_a_failed_transfer(fake_livekit):
    fake_livekit.transfer_outcome = "sip_error"
    result = run(fake_livekit, transfer("sip:kitchen@pizzeria.example"))
    assert (result.status, result.ended, result.sip_status) == (Transfer.FAILED, "busy", 486)
    assert fake_livekit.transfers[0]["transfer_to"] == "sip:kitchen@pizzeria.example"


def test_a_declined_transfer_says_so(fake_livekit):
    fake_livekit.transfer_outcome = "declined"
    result = run(fake_livekit, transfer("tel:+15550100900"))
    assert (result.status, result.ended, result.sip_status) == (Transfer.FAILED, "declined", 603)


def test_a_transfer_that_rang_out_on_the_bridge_is_not_answered(fake_livekit):
    fake_livekit.transfer_outcome = "rang_out"
    result = run(fake_livekit, transfer("tel:+15550100900", ringing_timeout=8))
    assert (result.status, result.ended) == (Transfer.FAILED, "no_answer")


def test_a_refer_whose_answer_the_bridge_lost_is_still_ringing_not_failed(fake_livekit):
    fake_livekit.transfer_outcome = "status_lost"
    assert run(fake_livekit, transfer("tel:+15550100900", ringing_timeout=8)).status is Transfer.ONGOING


def test_a_server_that_never_answers_is_given_up_on_after_the_ringing_timeout(fake_livekit):
    fake_livekit.transfer_seconds = 2.0
    result = run(fake_livekit, transfer("tel:+15550100900", ringing_timeout=0.2), answer_margin=0.2)
    assert (result.status, result.ended) == (Transfer.FAILED, "no_answer")


def test_a_failed_status_is_a_failed_transfer_even_without_an_error(fake_livekit):
    fake_livekit.transfer_outcome = "failed"
    assert run(fake_livekit, transfer("tel:+15550100900")).status is Transfer.FAILED


def test_an_ongoing_status_with_a_transfer_id_is_not_a_failure(fake_livekit):
    fake_livekit.transfer_outcome = "ongoing"
    assert run(fake_livekit, transfer("tel:+15550100900")).status is Transfer.ONGOING


def test_an_empty_answer_of_an_older_server_is_a_completed_transfer(fake_livekit):
    fake_livekit.transfer_outcome = "empty"
    assert run(fake_livekit, transfer("tel:+15550100900")).status is Transfer.COMPLETED


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
