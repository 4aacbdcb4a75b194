"""What the worker does to the phone call itself: a cold transfer (SIP REFER) and hanging up.

Both go through LiveKit's server API (Twirp over HTTP). Hanging up means deleting the room: ending
the job alone would leave the caller connected to a room nobody speaks in.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from google.protobuf.duration_pb2 import Duration
from livekit import api

logger = logging.getLogger("soniq.voiceworker")

class Transfer(enum.Enum):
    COMPLETED = "completed"
    # The REFER is still in progress (the server stopped waiting, not the transfer): the caller
    # may yet reach the target, so this is not a failure to queue a callback for.
    ONGOING = "ongoing"
    FAILED = "failed"


@dataclass(frozen=True)
class TransferResult:
    """What one REFER came to: the status, and for the call log how it ended (one of
    `core.call_contract.TRANSFER_ATTEMPT_OUTCOMES`) with the SIP status that said so."""

    status: Transfer
    ended: str = "answered"
    sip_status: int | None = None


# SIP answers that mean a person would not take it: busy (here, everywhere), and declined or rejected.
BUSY_STATUSES = {486, 600}
DECLINED_STATUSES = {603, 607, 608}
# Not answered: the target's own timeout, or the caller's carrier gave up ringing.
NO_ANSWER_STATUSES = {408, 480, 487}
# The worker waits this long beyond the ringing timeout for the server's answer before it gives up
# on it itself (a server that never answers must not keep the caller on a dial tone).
TRANSFER_ANSWER_MARGIN_SECONDS = 5.0
# The bridge's error when it lost the answer to its REFER (see LiveKitCallControl.transfer).
REFER_STATUS_LOST = "transaction failed to complete (0 intermediate responses)"


def transfer_failure(*, sip_status: int | None, code: str = "") -> TransferResult:
    """A failed transfer, classified from what the server said: the SIP status of the target's answer
    (relayed by the caller's carrier in its NOTIFY), or a cancelled/timed-out wait (rang out)."""
    if sip_status in BUSY_STATUSES:
        ended = "busy"
    elif sip_status in DECLINED_STATUSES:
        ended = "declined"
    elif sip_status in NO_ANSWER_STATUSES or (sip_status is None and code in ("canceled", "deadline_exceeded")):
        ended = "no_answer"
    else:
        ended = "failed"
    return TransferResult(Transfer.FAILED, ended=ended, sip_status=sip_status)


class CallControl(Protocol):
    async def transfer(self, transfer_to: str, *, ringing_timeout: float, headers: dict[str, str]) -> TransferResult:
        """Hand the caller to `transfer_to` (tel: or sip: URI), ringing it at most `ringing_timeout`
        seconds; `headers` go on the REFER (what the person is told before they pick up)."""
        ...

    async def hang_up(self) -> None:
        """End the call for everyone. Never raises."""
        ...


class LiveKitCallControl:
    """Transfer and hang-up for the SIP participant of one room, with the real LiveKit API client."""

    def __init__(self, *, lkapi: api.LiveKitAPI, room_name: str, participant_identity: str,
                 answer_margin: float = TRANSFER_ANSWER_MARGIN_SECONDS):
        self.answer_margin = answer_margin
        self.lkapi = lkapi
        self.room_name = room_name
        self.participant_identity = participant_identity

    async def transfer(self, transfer_to: str, *, ringing_timeout: float, headers: dict[str, str]) -> TransferResult:
        request = api.TransferSIPParticipantRequest(
            room_name=self.room_name,
            participant_identity=self.participant_identity,
            transfer_to=transfer_to,
            # The SIP service plays a dial tone on the caller's own leg while the REFER rings: it
            # needs no track of ours, and it keeps playing if this job is slow or gone.
            # (BackgroundAudioPlayer's hold music would need the session and a published track for
            # as long as the transfer rings.)
            play_dialtone=True,
            # The server and the SIP bridge (v1.8.0) both honour it: the bridge stops waiting for
            # the REFER's outcome, puts the caller back in the room and answers "canceled".
            ringing_timeout=Duration(seconds=max(int(round(ringing_timeout)), 1)),
            headers=headers,
        )
        asked = time.monotonic()
        try:
            # Bounded here too: a server or bridge that never answers must not hold the caller.
            async with asyncio.timeout(ringing_timeout + self.answer_margin):
                response = await self.lkapi.sip.transfer_sip_participant(request)
        except api.SipCallError as exc:
            # The usual failures: busy, declined, no answer, or a trunk that does not allow REFER.
            logger.warning("SIP transfer of %s to %s failed: %s", self.participant_identity, transfer_to, exc)
            if exc.sip_transfer_reason == "STR_RINGING_TIMEOUT":
                return TransferResult(Transfer.FAILED, ended="no_answer", sip_status=exc.sip_status_code)
            return transfer_failure(sip_status=exc.sip_status_code, code=str(exc.code))
        except TimeoutError:
            logger.warning("SIP transfer of %s to %s: no answer from the server within %.1f s", self.participant_identity,
                           transfer_to, ringing_timeout + self.answer_margin)
            return TransferResult(Transfer.FAILED, ended="no_answer")
        except api.ServerError as exc:
            logger.warning("SIP transfer of %s to %s did not complete: %s", self.participant_identity, transfer_to, exc)
            if REFER_STATUS_LOST in exc.message and time.monotonic() - asked < ringing_timeout:
                # The SIP bridge v1.8.0 sometimes loses the carrier's fast 202 to the REFER (its
                # `sipResponse` selects between "response" and "transaction done" at random when both
                # are ready) and gives up at once while the carrier is already ringing the target:
                # still ringing, as far as anyone can tell. The caller's leg leaving says it was answered.
                return TransferResult(Transfer.ONGOING)
            # The bridge's ringing timeout comes back as "canceled" (or the server's own deadline).
            return transfer_failure(sip_status=None, code=str(exc.code))
        except aiohttp.ClientError as exc:
            logger.error("SIP transfer of %s to %s could not be requested: %s", self.participant_identity,
                         transfer_to, exc)
            return TransferResult(Transfer.FAILED, ended="failed")
        if response.status == api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL:
            return TransferResult(Transfer.COMPLETED)
        if response.status == api.SIPTransferStatus.STS_TRANSFER_ONGOING:
            # Servers older than the transfer-status field answer an empty message on success,
            # which reads as ONGOING with no transfer id. With an id, the server answered while
            # the REFER was still ringing: whether it completes shows in the caller's leg leaving.
            return TransferResult(Transfer.ONGOING if response.transfer_id else Transfer.COMPLETED)
        logger.warning("SIP transfer of %s to %s did not complete: status %s, reason %s", self.participant_identity,
                       transfer_to, api.SIPTransferStatus.Name(response.status),
                       api.SIPTransferReason.Name(response.reason))
        return transfer_failure(sip_status=None)

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
        self.headers: list[dict[str, str]] = []
        self.hung_up = False
        self._echo = echo

    async def transfer(self, transfer_to: str, *, ringing_timeout: float = 18.0,
                       headers: dict[str, str] | None = None) -> TransferResult:
        self.transfers.append(transfer_to)
        self.headers.append(dict(headers or {}))
        self._say(f"[the call would now be transferred to {transfer_to}]")
        return TransferResult(Transfer.COMPLETED) if self.transfer_succeeds else transfer_failure(sip_status=486)

    async def hang_up(self) -> None:
        self.hung_up = True
        self._say("[the call would now be hung up]")

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)
        else:
            logger.info(text)
