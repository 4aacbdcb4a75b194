"""Calls the worker places: a phone number dialled into a LiveKit room through Soniq's outbound SIP trunk.

The trunk is the one `manage.py sip_sync` keeps (tenants/sip_trunk.py): named
LIVEKIT_SIP_OUTBOUND_TRUNK_NAME, pointing at the carrier (SIP_OUTBOUND_ADDRESS), with every tenant
number on it so that any of them can be the caller id. The worker never reads the database, so it
finds the trunk's id by name through LiveKit's API (`outbound_trunk_id`, cached per process).

`dial_into_room` is the one way the worker rings someone: the staff member of a warm transfer
(voiceworker/warm_transfer.py) and the customer of a callback the agent returns. It is LiveKit's
`CreateSIPParticipant` with `wait_until_answered`: it returns once the called phone answered (its
SIP participant is then in the room, `sip.callStatus` active) or with why it did not (busy,
declined, no answer within the ringing timeout, or a failure).

Imported by job processes: settings and HTTP only, no models.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from django.conf import settings
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol import sip as sip_proto

logger = logging.getLogger("soniq.voiceworker")

# Trunk name -> id, for this process. A trunk that sip_sync recreated gets a new id: the dial that
# fails with the stale one forgets it and looks again (`dial_into_room`).
_trunk_ids: dict[str, str] = {}
_lookup_lock = asyncio.Lock()


class OutboundUnavailable(Exception):
    """Nothing can be dialled: no outbound trunk of that name in LiveKit (outbound calling is off,
    or sip_sync has not run), or LiveKit could not be asked."""


class DialOutcome(enum.Enum):
    ANSWERED = "answered"
    BUSY = "busy"  # 486 Busy Here / 600 Busy Everywhere
    DECLINED = "declined"  # 603 Decline: the person turned the call down
    NO_ANSWER = "no_answer"  # rang out: the ringing timeout, or 408/480/487 from the carrier
    FAILED = "failed"  # anything else: no trunk, a refusal, LiveKit unreachable


@dataclass(frozen=True)
class DialResult:
    outcome: DialOutcome
    participant_identity: str
    # How long it rang (or tried) before the answer or the failure, in seconds.
    rang_seconds: float
    sip_status_code: int | None = None
    detail: str = ""
    sip_call_id: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome is DialOutcome.ANSWERED


async def outbound_trunk_id(lkapi: api.LiveKitAPI, *, name: str | None = None, refresh: bool = False) -> str:
    """The id of the outbound trunk named `name` (LIVEKIT_SIP_OUTBOUND_TRUNK_NAME by default), looked
    up once per process. Raises OutboundUnavailable when LiveKit has none of that name."""
    name = name or settings.LIVEKIT_SIP_OUTBOUND_TRUNK_NAME
    if not name:
        raise OutboundUnavailable("LIVEKIT_SIP_OUTBOUND_TRUNK_NAME is empty: the worker cannot dial out.")
    async with _lookup_lock:
        if refresh:
            _trunk_ids.pop(name, None)
        if name in _trunk_ids:
            return _trunk_ids[name]
        try:
            listing = await lkapi.sip.list_outbound_trunk(sip_proto.ListSIPOutboundTrunkRequest())
        except (api.TwirpError, aiohttp.ClientError, TimeoutError) as exc:
            raise OutboundUnavailable(f"could not list LiveKit's outbound trunks: {exc}") from exc
        ids = [trunk.sip_trunk_id for trunk in listing.items if trunk.name == name]
        if not ids:
            raise OutboundUnavailable(f"LiveKit has no outbound trunk named {name!r}: set SIP_OUTBOUND_ADDRESS and "
                                      "run `manage.py sip_sync`.")
        _trunk_ids[name] = ids[0]
        return ids[0]


def _outcome_of(exc: api.TwirpError) -> tuple[DialOutcome, int | None]:
    code = exc.sip_status_code if isinstance(exc, api.SipCallError) else None
    if code in (486, 600):
        return DialOutcome.BUSY, code
    if code == 603:
        return DialOutcome.DECLINED, code
    if code in (408, 480, 487):
        return DialOutcome.NO_ANSWER, code
    # The bridge cancels the INVITE when the ringing timeout passes and reports the request as
    # canceled / timed out, without a SIP status.
    if code is None and (exc.code in {"canceled", "deadline_exceeded"} or "timeout" in exc.message.lower()):
        return DialOutcome.NO_ANSWER, None
    return DialOutcome.FAILED, code


async def dial_into_room(lkapi: api.LiveKitAPI, *, room_name: str, to_number: str, from_number: str,
                         participant_identity: str, participant_name: str = "",
                         attributes: Mapping[str, str] | None = None, ringing_timeout: float,
                         headers: Mapping[str, str] | None = None, trunk_name: str | None = None) -> DialResult:
    """Ring `to_number` (E.164, or the user part the carrier routes) from `from_number` (a tenant's own
    number: it must be on the outbound trunk, which sip_sync makes sure of) and, once answered, put
    them in `room_name` as the SIP participant `participant_identity` with `attributes`.

    Waits until the call is answered or has failed (at most about `ringing_timeout` seconds plus the
    request's margin). Never raises for a call that did not connect: the result says why. `headers`
    go on the INVITE (X- headers, e.g. the reason of a transfer, where the carrier passes them)."""
    started = time.monotonic()

    def result(outcome: DialOutcome, *, code: int | None = None, detail: str = "", call_id: str = "") -> DialResult:
        return DialResult(outcome=outcome, participant_identity=participant_identity,
                          rang_seconds=round(time.monotonic() - started, 1), sip_status_code=code, detail=detail,
                          sip_call_id=call_id)

    for attempt in range(2):
        try:
            trunk_id = await outbound_trunk_id(lkapi, name=trunk_name, refresh=attempt > 0)
        except OutboundUnavailable as exc:
            logger.error("cannot dial %s: %s", to_number, exc)
            return result(DialOutcome.FAILED, detail=str(exc))
        request = sip_proto.CreateSIPParticipantRequest(
            sip_trunk_id=trunk_id, sip_call_to=to_number, sip_number=from_number, room_name=room_name,
            participant_identity=participant_identity, participant_name=participant_name,
            participant_attributes=dict(attributes or {}), headers=dict(headers or {}),
            ringing_timeout=Duration(seconds=max(1, int(ringing_timeout))), wait_until_answered=True,
        )
        try:
            info = await lkapi.sip.create_sip_participant(request)
        except api.TwirpError as exc:
            if exc.code == "not_found" and attempt == 0 and not isinstance(exc, api.SipCallError):
                continue  # the trunk was recreated since it was looked up: look again, once
            outcome, code = _outcome_of(exc)
            logger.info("dialling %s from %s into %s: %s (%s: %s)", to_number, from_number, room_name,
                        outcome.value, exc.code, exc.message)
            return result(outcome, code=code, detail=f"{exc.code}: {exc.message}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.error("dialling %s into %s: LiveKit could not be reached: %s", to_number, room_name, exc)
            return result(DialOutcome.FAILED, detail=f"LiveKit could not be reached: {exc!r}")
        return result(DialOutcome.ANSWERED, call_id=info.sip_call_id)
    return result(DialOutcome.FAILED, detail="the outbound trunk disappeared while dialling")


def dialable_number(target: str) -> str:
    """The number to dial for a transfer target: `tel:+1555…` and `sip:+1555…@host` give `+1555…`
    (the trunk decides where it goes); a bare number is returned as it is."""
    target = target.strip()
    if target.startswith("tel:"):
        return target[4:].split(";", 1)[0]
    if target.startswith(("sip:", "sips:")):
        return target.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    return target
