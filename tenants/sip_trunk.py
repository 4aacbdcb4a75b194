"""The LiveKit side of the phone line: the inbound SIP trunk Soniq manages and its dispatch rule.

`trunk_reconcile()` compares what LiveKit has with the numbers the registry says should ring an
agent and, unless asked only to look, makes LiveKit match:
- the inbound trunk named LIVEKIT_SIP_TRUNK_NAME (created if absent) carries exactly the registry's
  numbers, with SignalWire's credentials and/or addresses from the settings;
- one individual-room dispatch rule (LIVEKIT_SIP_DISPATCH_RULE_NAME) sends every call on that trunk to
  its own room (LIVEKIT_SIP_ROOM_PREFIX…) and dispatches the agent named VOICE_AGENT_NAME there. The
  voice worker registers under that name, so without the dispatch the call rings an empty room.
  The worker reads the dialled number from the SIP participant's `sip.trunkPhoneNumber` attribute,
  which LiveKit sets itself: neither the rule nor the room needs metadata for it;
- the outbound trunk named LIVEKIT_SIP_OUTBOUND_TRUNK_NAME points at the carrier (SIP_OUTBOUND_ADDRESS,
  with its credentials and transport) and carries the same numbers, so that any tenant's number can be
  the caller id of a call the agent places (warm transfers, callbacks: voiceworker/outbound.py). With
  SIP_OUTBOUND_ADDRESS empty there is no outbound calling, and that trunk is deleted if it exists.
Other trunks and rules are never touched, so numbers an operator keeps on a trunk of their own stay.

This module knows no models (tenants/sip_sync.py does); it talks to LiveKit with livekit.api only.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp
from django.conf import settings
from livekit import api
from livekit.api.sip_service import SipService
from livekit.protocol import agent_dispatch as agent_dispatch_proto
from livekit.protocol import models as models_proto
from livekit.protocol import room as room_proto
from livekit.protocol import sip as sip_proto

# Marks what Soniq made, for a person looking at LiveKit's console.
MANAGED_METADATA = json.dumps({"managed_by": "soniq"})
OUTBOUND_TRANSPORTS = {"udp": sip_proto.SIP_TRANSPORT_UDP, "tcp": sip_proto.SIP_TRANSPORT_TCP,
                       "tls": sip_proto.SIP_TRANSPORT_TLS, "auto": sip_proto.SIP_TRANSPORT_AUTO}


@dataclass(frozen=True)
class SipTrunkConfig:
    url: str
    api_key: str
    api_secret: str
    trunk_name: str
    auth_username: str
    auth_password: str
    allowed_addresses: tuple[str, ...]
    dispatch_rule_name: str
    room_prefix: str
    agent_name: str
    timeout_seconds: int
    outbound_trunk_name: str = ""
    outbound_address: str = ""  # empty: no outbound trunk
    outbound_username: str = ""
    outbound_password: str = ""
    outbound_transport: int = sip_proto.SIP_TRANSPORT_UDP


def sip_trunk_config_problem() -> str:
    """Why Soniq does not manage the trunk ("" when it does): the settings that are missing."""
    missing = [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_SIP_TRUNK_NAME")
               if not getattr(settings, name)]
    if missing:
        return f"LiveKit SIP trunk sync is off: {', '.join(missing)} not set; numbers must be put on a trunk by hand."
    if bool(settings.LIVEKIT_SIP_AUTH_USERNAME) != bool(settings.LIVEKIT_SIP_AUTH_PASSWORD):
        return ("LiveKit SIP trunk sync is off: set both LIVEKIT_SIP_AUTH_USERNAME and LIVEKIT_SIP_AUTH_PASSWORD "
                "(or neither, with LIVEKIT_SIP_ALLOWED_ADDRESSES).")
    if not settings.LIVEKIT_SIP_AUTH_USERNAME and not settings.LIVEKIT_SIP_ALLOWED_ADDRESSES:
        # A trunk with neither would take calls to the tenants' numbers from anyone who finds LiveKit's SIP address.
        return ("LiveKit SIP trunk sync is off: set LIVEKIT_SIP_AUTH_USERNAME/LIVEKIT_SIP_AUTH_PASSWORD or "
                "LIVEKIT_SIP_ALLOWED_ADDRESSES, so that only SignalWire can call in.")
    if settings.SIP_OUTBOUND_ADDRESS and settings.SIP_OUTBOUND_TRANSPORT.lower() not in OUTBOUND_TRANSPORTS:
        return (f"LiveKit SIP trunk sync is off: SIP_OUTBOUND_TRANSPORT is {settings.SIP_OUTBOUND_TRANSPORT!r}; "
                f"use one of {', '.join(OUTBOUND_TRANSPORTS)}.")
    if settings.SIP_OUTBOUND_ADDRESS and not settings.LIVEKIT_SIP_OUTBOUND_TRUNK_NAME:
        return "LiveKit SIP trunk sync is off: SIP_OUTBOUND_ADDRESS is set but LIVEKIT_SIP_OUTBOUND_TRUNK_NAME is empty."
    return ""


def sip_trunk_config() -> SipTrunkConfig | None:
    """The trunk Soniq manages, from the settings; None when the feature is off."""
    if sip_trunk_config_problem():
        return None
    return SipTrunkConfig(
        url=settings.LIVEKIT_URL, api_key=settings.LIVEKIT_API_KEY, api_secret=settings.LIVEKIT_API_SECRET,
        trunk_name=settings.LIVEKIT_SIP_TRUNK_NAME, auth_username=settings.LIVEKIT_SIP_AUTH_USERNAME,
        auth_password=settings.LIVEKIT_SIP_AUTH_PASSWORD,
        allowed_addresses=tuple(settings.LIVEKIT_SIP_ALLOWED_ADDRESSES),
        dispatch_rule_name=settings.LIVEKIT_SIP_DISPATCH_RULE_NAME, room_prefix=settings.LIVEKIT_SIP_ROOM_PREFIX,
        agent_name=settings.VOICE_AGENT_NAME, timeout_seconds=settings.LIVEKIT_SIP_TIMEOUT_SECONDS,
        outbound_trunk_name=settings.LIVEKIT_SIP_OUTBOUND_TRUNK_NAME, outbound_address=settings.SIP_OUTBOUND_ADDRESS,
        outbound_username=settings.SIP_OUTBOUND_USERNAME, outbound_password=settings.SIP_OUTBOUND_PASSWORD,
        outbound_transport=OUTBOUND_TRANSPORTS.get(settings.SIP_OUTBOUND_TRANSPORT.lower(), sip_proto.SIP_TRANSPORT_UDP),
    )


class SipTrunkError(Exception):
    """LiveKit refused or could not be reached. `transient`: a later attempt may succeed (network,
    5xx). `numbers_on_trunk`: what the trunk carried when it failed, if it was read at all."""

    def __init__(self, message: str, *, transient: bool, numbers_on_trunk: set[str] | None = None):
        super().__init__(message)
        self.transient = transient
        self.numbers_on_trunk = numbers_on_trunk


@dataclass
class SipTrunkReport:
    """What was found (and, when applied, done). `drift` is empty when LiveKit matched the registry."""

    applied: bool
    trunk_id: str = ""
    dispatch_rule_id: str = ""
    outbound_trunk_id: str = ""  # empty when there is none (no SIP_OUTBOUND_ADDRESS, or a check found none)
    drift: list[str] = field(default_factory=list)
    # The numbers the trunk carries now: after the fixes when applied, as found otherwise.
    numbers_on_trunk: set[str] = field(default_factory=set)

    @property
    def in_step(self) -> bool:
        return not self.drift


def trunk_reconcile(*, config: SipTrunkConfig, numbers: set[str], apply: bool) -> SipTrunkReport:
    """Bring Soniq's trunk and rule in line with `numbers` (apply=False: only report the drift)."""
    return asyncio.run(_reconcile(config, numbers, apply=apply))


def _error(exc: BaseException, doing: str, numbers_on_trunk: set[str] | None) -> SipTrunkError:
    if isinstance(exc, api.TwirpError):
        transient = exc.status >= 500 or exc.code in {"unavailable", "deadline_exceeded", "resource_exhausted"}
        return SipTrunkError(f"LiveKit refused to {doing}: {exc.code}: {exc.message}", transient=transient,
                             numbers_on_trunk=numbers_on_trunk)
    reason = "timed out" if isinstance(exc, TimeoutError) else f"{exc.__class__.__name__}: {exc}"
    return SipTrunkError(f"LiveKit could not be reached to {doing} ({reason})", transient=True,
                         numbers_on_trunk=numbers_on_trunk)


async def _reconcile(config: SipTrunkConfig, numbers: set[str], *, apply: bool) -> SipTrunkReport:
    report = SipTrunkReport(applied=apply)
    doing, numbers_on_trunk = "list the SIP trunks", None
    async with api.LiveKitAPI(config.url, config.api_key, config.api_secret,
                              timeout=aiohttp.ClientTimeout(total=config.timeout_seconds)) as lkapi:
        try:
            trunk = await _find_trunk(lkapi.sip, config.trunk_name)
            if trunk is None:
                report.drift.append(f"the inbound trunk {config.trunk_name!r} does not exist")
                if apply:
                    doing = "create the SIP trunk"
                    trunk = await lkapi.sip.create_inbound_trunk(
                        sip_proto.CreateSIPInboundTrunkRequest(trunk=_wanted_trunk(config, numbers)))
            else:
                numbers_on_trunk = set(trunk.numbers)
                doing = "update the SIP trunk's numbers"
                trunk = await _fix_trunk(lkapi.sip, trunk, config, numbers, report, apply=apply)
            if trunk is not None:
                report.trunk_id = trunk.sip_trunk_id
                report.numbers_on_trunk = numbers_on_trunk = set(trunk.numbers)
            doing = "list the SIP dispatch rules"
            rule = await _find_rule(lkapi.sip, config.dispatch_rule_name)
            doing = "write the SIP dispatch rule"
            await _fix_rule(lkapi.sip, rule, config, report, apply=apply)
            doing = "write the outbound SIP trunk"
            await _fix_outbound_trunk(lkapi.sip, config, numbers, report, apply=apply)
        except (TimeoutError, api.TwirpError, aiohttp.ClientError) as exc:
            raise _error(exc, doing, numbers_on_trunk) from exc
    return report


async def _find_trunk(sip: SipService, name: str) -> sip_proto.SIPInboundTrunkInfo | None:
    # Which one SignalWire's calls match is LiveKit's choice; Soniq will not guess which to edit.
    listing = await sip.list_inbound_trunk(sip_proto.ListSIPInboundTrunkRequest())
    return _the_one_named(listing.items, name, kind="inbound trunks")


def _the_one_named(items, name: str, *, kind: str):
    named = [item for item in items if item.name == name]
    if len(named) > 1:
        ids = ", ".join(item.sip_trunk_id for item in named)
        raise SipTrunkError(f"LiveKit has {len(named)} {kind} named {name!r} ({ids}); delete all but one.",
                            transient=False)
    return named[0] if named else None


def _wanted_trunk(config: SipTrunkConfig, numbers: set[str]) -> sip_proto.SIPInboundTrunkInfo:
    return sip_proto.SIPInboundTrunkInfo(
        name=config.trunk_name, metadata=MANAGED_METADATA, numbers=sorted(numbers),
        allowed_addresses=list(config.allowed_addresses), auth_username=config.auth_username,
        auth_password=config.auth_password,
    )


async def _fix_trunk(sip: SipService, trunk: sip_proto.SIPInboundTrunkInfo, config: SipTrunkConfig,
                     numbers: set[str], report: SipTrunkReport, *, apply: bool) -> sip_proto.SIPInboundTrunkInfo:
    current = set(trunk.numbers)
    missing, extra = sorted(numbers - current), sorted(current - numbers)
    if missing:
        report.drift.append(f"not on the trunk: {', '.join(missing)}")
    if extra:
        report.drift.append(f"on the trunk but no tenant's: {', '.join(extra)}")
    auth_wrong = trunk.auth_username != config.auth_username or (
        # LiveKit may not return the password; compare it only when it does.
        bool(trunk.auth_password) and trunk.auth_password != config.auth_password)
    addresses_wrong = sorted(trunk.allowed_addresses) != sorted(config.allowed_addresses)
    if auth_wrong:
        report.drift.append("the trunk's SIP credentials differ from LIVEKIT_SIP_AUTH_USERNAME/PASSWORD")
    if addresses_wrong:
        report.drift.append("the trunk's allowed addresses differ from LIVEKIT_SIP_ALLOWED_ADDRESSES")
    if not apply or not (missing or extra or auth_wrong or addresses_wrong):
        return trunk
    # Add and remove, not "set": two syncs are serialised by sip_sync's lock, but a number an
    # operator adds by hand between our read and this write is then at least not silently kept.
    return await sip.update_inbound_trunk_fields(
        trunk.sip_trunk_id,
        numbers=models_proto.ListUpdate(add=missing, remove=extra) if missing or extra else None,
        auth_username=config.auth_username if auth_wrong else None,
        auth_password=config.auth_password if auth_wrong else None,
        allowed_addresses=list(config.allowed_addresses) if addresses_wrong else None,
    )


async def _find_rule(sip: SipService, name: str) -> sip_proto.SIPDispatchRuleInfo | None:
    listing = await sip.list_dispatch_rule(sip_proto.ListSIPDispatchRuleRequest())
    named = [rule for rule in listing.items if rule.name == name]
    if len(named) > 1:
        ids = ", ".join(rule.sip_dispatch_rule_id for rule in named)
        raise SipTrunkError(f"LiveKit has {len(named)} dispatch rules named {name!r} ({ids}); delete all but one.",
                            transient=False)
    return named[0] if named else None


def _wanted_rule(config: SipTrunkConfig, trunk_id: str) -> sip_proto.SIPDispatchRuleInfo:
    return sip_proto.SIPDispatchRuleInfo(
        name=config.dispatch_rule_name, metadata=MANAGED_METADATA, trunk_ids=[trunk_id] if trunk_id else [],
        rule=sip_proto.SIPDispatchRule(
            dispatch_rule_individual=sip_proto.SIPDispatchRuleIndividual(room_prefix=config.room_prefix)),
        room_config=room_proto.RoomConfiguration(
            agents=[agent_dispatch_proto.RoomAgentDispatch(agent_name=config.agent_name)]),
    )


def _rule_problems(rule: sip_proto.SIPDispatchRuleInfo, config: SipTrunkConfig, trunk_id: str) -> list[str]:
    problems = []
    if list(rule.trunk_ids) != [trunk_id]:
        problems.append("is not limited to Soniq's trunk")
    if rule.rule.WhichOneof("rule") != "dispatch_rule_individual":
        problems.append("does not give each call its own room")
    elif rule.rule.dispatch_rule_individual.room_prefix != config.room_prefix:
        problems.append(f"names rooms {rule.rule.dispatch_rule_individual.room_prefix!r}… instead of "
                        f"{config.room_prefix!r}…")
    elif rule.rule.dispatch_rule_individual.pin:
        problems.append("asks callers for a PIN")
    if [agent.agent_name for agent in rule.room_config.agents] != [config.agent_name]:
        problems.append(f"does not dispatch the agent {config.agent_name!r} (and only it)")
    if rule.inbound_numbers or rule.numbers:
        # A number filter on the rule would leave every number not in it ringing nothing.
        problems.append("only takes calls from or to some numbers")
    return problems


async def _fix_rule(sip: SipService, rule: sip_proto.SIPDispatchRuleInfo | None, config: SipTrunkConfig,
                    report: SipTrunkReport, *, apply: bool) -> None:
    name = config.dispatch_rule_name
    if rule is None:
        report.drift.append(f"the dispatch rule {name!r} does not exist")
        if apply and report.trunk_id:
            rule = await sip.create_dispatch_rule(
                sip_proto.CreateSIPDispatchRuleRequest(dispatch_rule=_wanted_rule(config, report.trunk_id)))
            report.dispatch_rule_id = rule.sip_dispatch_rule_id
        return
    report.dispatch_rule_id = rule.sip_dispatch_rule_id
    # Before the trunk exists (a check that found none) there is no trunk id to compare with.
    problems = _rule_problems(rule, config, report.trunk_id) if report.trunk_id else []
    if problems:
        report.drift.append(f"the dispatch rule {name!r} " + ", ".join(problems))
        if apply:
            await sip.update_dispatch_rule(rule.sip_dispatch_rule_id, _wanted_rule(config, report.trunk_id))


# --- the outbound trunk ---------------------------------------------------------------------------

async def _find_outbound_trunk(sip: SipService, name: str) -> sip_proto.SIPOutboundTrunkInfo | None:
    # The worker dials through the trunk of this name; two would make that a guess.
    listing = await sip.list_outbound_trunk(sip_proto.ListSIPOutboundTrunkRequest())
    return _the_one_named(listing.items, name, kind="outbound trunks")


def _wanted_outbound_trunk(config: SipTrunkConfig, numbers: set[str]) -> sip_proto.SIPOutboundTrunkInfo:
    return sip_proto.SIPOutboundTrunkInfo(
        name=config.outbound_trunk_name, metadata=MANAGED_METADATA, address=config.outbound_address,
        transport=config.outbound_transport, numbers=sorted(numbers), auth_username=config.outbound_username,
        auth_password=config.outbound_password,
    )


async def _fix_outbound_trunk(sip: SipService, config: SipTrunkConfig, numbers: set[str], report: SipTrunkReport,
                              *, apply: bool) -> None:
    if not config.outbound_trunk_name:
        return
    name = config.outbound_trunk_name
    trunk = await _find_outbound_trunk(sip, name)
    if not config.outbound_address:
        # Outbound calling turned off: a trunk left behind would still let the worker dial out.
        if trunk is not None:
            report.drift.append(f"the outbound trunk {name!r} exists but SIP_OUTBOUND_ADDRESS is empty")
            if apply:
                await sip.delete_trunk(sip_proto.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
            else:
                report.outbound_trunk_id = trunk.sip_trunk_id
        return
    if trunk is None:
        report.drift.append(f"the outbound trunk {name!r} does not exist")
        if apply:
            trunk = await sip.create_outbound_trunk(
                sip_proto.CreateSIPOutboundTrunkRequest(trunk=_wanted_outbound_trunk(config, numbers)))
            report.outbound_trunk_id = trunk.sip_trunk_id
        return
    report.outbound_trunk_id = trunk.sip_trunk_id
    problems = []
    current = set(trunk.numbers)
    missing, extra = sorted(numbers - current), sorted(current - numbers)
    if missing:
        problems.append(f"lacks the caller ids {', '.join(missing)}")
    if extra:
        problems.append(f"has caller ids no tenant owns: {', '.join(extra)}")
    if trunk.address != config.outbound_address:
        problems.append(f"points at {trunk.address!r} instead of SIP_OUTBOUND_ADDRESS {config.outbound_address!r}")
    if trunk.transport != config.outbound_transport:
        problems.append("uses another transport than SIP_OUTBOUND_TRANSPORT")
    if trunk.auth_username != config.outbound_username or (
            # LiveKit may not return the password; compare it only when it does.
            bool(trunk.auth_password) and trunk.auth_password != config.outbound_password):
        problems.append("has other credentials than SIP_OUTBOUND_USERNAME/PASSWORD")
    if not problems:
        return
    report.drift.append(f"the outbound trunk {name!r} " + ", ".join(problems))
    if apply:
        # The whole trunk is Soniq's (unlike the inbound one, no number on it is anyone else's to keep).
        await sip.update_outbound_trunk(trunk.sip_trunk_id, _wanted_outbound_trunk(config, numbers))
