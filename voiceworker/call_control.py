"""What the worker does to the phone call itself: a cold transfer (SIP REFER) and hanging up.

Both go through LiveKit's server API (Twirp over HTTP). Hanging up means deleting the room: ending
the job alone would leave the caller connected to a room nobody speaks in.
"""
from __future__ import annotations

import enum
import logging
from typing import Protocol

import aiohttp
from livekit import api

logger = logging.getLogger("soniq.voiceworker")

class Transfer(enum.Enum):
    COMPLETED = "completed"
    # The REFER is still in progress (the server stopped waiting, not the transfer): the caller
    # may yet reach the target, so this is not a failure to queue a callback for.
    ONGOING = "ongoing"
    FAILED = "failed"


class CallControl(Protocol):
    async def transfer(self, transfer_to: str) -> Transfer:
        """Hand the caller to `transfer_to` (tel: or sip: URI)."""
        ...

    async def hang_up(self) -> None:
        """End the call for everyone. Never raises."""
        ...


class LiveKitCallControl:
    """Transfer and hang-up for the SIP participant of one room, with the real LiveKit API client."""

    def __init__(self, *, lkapi: api.LiveKitAPI, room_name: str, participant_identity: str):
        self.lkapi = lkapi
        self.room_name = room_name
        self.participant_identity = participant_identity

    async def transfer(self, transfer_to: str) -> Transfer:
        request = api.TransferSIPParticipantRequest(
            room_name=self.room_name,
            participant_identity=self.participant_identity,
            transfer_to=transfer_to,
            # The SIP service plays a dial tone on the caller's own leg while the REFER rings (up
            # to the 30 s ringing timeout): it needs no track of ours, and it keeps playing if this
            # job is slow or gone. (BackgroundAudioPlayer's hold music would need the session and
            # a published track for as long as the transfer rings.)
            play_dialtone=True,
        )
        try:
            response = await self.lkapi.sip.transfer_sip_participant(request)
        except api.SipCallError as exc:
            # The usual failures: busy, no answer, or a trunk that does not allow REFER.
            logger.warning("SIP transfer of %s to %s failed: %s", self.participant_identity, transfer_to, exc)
            return Transfer.FAILED
        except (api.ServerError, aiohttp.ClientError, TimeoutError) as exc:
            logger.error("SIP transfer of %s to %s could not be requested: %s", self.participant_identity,
                         transfer_to, exc)
            return Transfer.FAILED
        if response.status == api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL:
            return Transfer.COMPLETED
        if response.status == api.SIPTransferStatus.STS_TRANSFER_ONGOING:
            # Servers older than the transfer-status field answer an empty message on success,
            # which reads as ONGOING with no transfer id. With an id, the server answered while
            # the REFER was still ringing: whether it completes shows in the caller's leg leaving.
            return Transfer.ONGOING if response.transfer_id else Transfer.COMPLETED
        logger.warning("SIP transfer of %s to %s did not complete: status %s, reason %s", self.participant_identity,
                       transfer_to, api.SIPTransferStatus.Name(response.status),
                       api.SIPTransferReason.Name(response.reason))
        return Transfer.FAILED

    async def hang_up(self) -> None:
        try:
            await self.lkapi.room.delete_room(api.DeleteRoomRequest(room=self.room_name))
        except api.ServerError as exc:
            if exc.code != api.ServerErrorCode.NOT_FOUND:
                logger.error("could not delete room %s to hang up: %s", self.room_name, exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.error("could not delete room %s to hang up: %s", self.room_name, exc)


class LoggingCallControl:
    """For runs without a phone line (fake jobs, callsim): records what would have happened."""

    def __init__(self, *, transfer_succeeds: bool = True, echo=None):
        self.transfer_succeeds = transfer_succeeds
        self.transfers: list[str] = []
        self.hung_up = False
        self._echo = echo

    async def transfer(self, transfer_to: str) -> Transfer:
        self.transfers.append(transfer_to)
        self._say(f"[the call would now be transferred to {transfer_to}]")
        return Transfer.COMPLETED if self.transfer_succeeds else Transfer.FAILED

    async def hang_up(self) -> None:
        self.hung_up = True
        self._say("[the call would now be hung up]")

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)
        else:
            logger.info(text)
