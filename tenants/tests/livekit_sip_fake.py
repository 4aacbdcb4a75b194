"""A local LiveKit SIP service (Twirp over HTTP, protobuf bodies) that keeps inbound trunks and
dispatch rules the way the server does, for the real `livekit.api` client to talk to.

It decodes every request with livekit.protocol, checks the bearer token against the API secret
(and the token's SIP admin grant), assigns `ST_`/`SDR_` ids, applies `ListUpdate`s in the server's
order (clear or set, then remove, then add) and refuses what the server refuses: an unknown id
(not_found) and a number already on another inbound trunk (invalid_argument; the server allows that
only when allowed addresses or numbers tell the trunks apart, which this fake does not model).
Served from a thread like voiceworker/tests/fakes.py's FakeLiveKit, whose ThreadedServer it reuses.
"""
from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol import models as models_proto
from livekit.protocol import sip as sip_proto

from voiceworker.tests.fakes import ThreadedServer

API_KEY, API_SECRET = "sip-test-key", "sip-test-secret-that-is-long-enough"


class TwirpFailure(Exception):
    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _apply_list_update(values: list[str], update: models_proto.ListUpdate) -> list[str]:
    if update.clear:
        values = []
    elif update.set:
        values = list(update.set)
    values = [value for value in values if value not in set(update.remove)]
    values += [value for value in update.add if value not in values]
    return values


class FakeLiveKitSip:
    """`trunks` and `rules` map ids to the stored protobuf messages; `requests` lists the methods called."""

    def __init__(self):
        self.trunks: dict[str, sip_proto.SIPInboundTrunkInfo] = {}
        self.rules: dict[str, sip_proto.SIPDispatchRuleInfo] = {}
        self.outbound_trunks: dict[str, sip_proto.SIPOutboundTrunkInfo] = {}
        self.requests: list[str] = []
        self._ids = itertools.count(1)
        app = web.Application()
        for method, handler in {
            "ListSIPInboundTrunk": self._list_trunks, "CreateSIPInboundTrunk": self._create_trunk,
            "UpdateSIPInboundTrunk": self._update_trunk, "DeleteSIPTrunk": self._delete_trunk,
            "ListSIPDispatchRule": self._list_rules, "CreateSIPDispatchRule": self._create_rule,
            "UpdateSIPDispatchRule": self._update_rule, "DeleteSIPDispatchRule": self._delete_rule,
            "ListSIPOutboundTrunk": self._list_outbound_trunks, "CreateSIPOutboundTrunk": self._create_outbound_trunk,
            "UpdateSIPOutboundTrunk": self._update_outbound_trunk,
        }.items():
            app.router.add_post(f"/twirp/livekit.SIP/{method}", self._twirp(method, handler))
        self.server = ThreadedServer(app)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def settings(self) -> dict[str, str]:
        """Django settings that point Soniq's trunk management here."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}

    def client(self) -> api.LiveKitAPI:
        """A client for the test itself: an operator changing LiveKit behind Soniq's back."""
        return api.LiveKitAPI(self.url, API_KEY, API_SECRET)

    def numbers_of(self, trunk_name: str) -> set[str]:
        return {number for trunk in self.trunks.values() if trunk.name == trunk_name for number in trunk.numbers}

    def trunk_named(self, name: str) -> sip_proto.SIPInboundTrunkInfo | None:
        return next((trunk for trunk in self.trunks.values() if trunk.name == name), None)

    def outbound_trunk_named(self, name: str) -> sip_proto.SIPOutboundTrunkInfo | None:
        return next((trunk for trunk in self.outbound_trunks.values() if trunk.name == name), None)

    def rule_named(self, name: str) -> sip_proto.SIPDispatchRuleInfo | None:
        return next((rule for rule in self.rules.values() if rule.name == name), None)

    # --- Twirp plumbing -----------------------------------------------------------------------

    def _twirp(self, method: str, handler):
        async def serve(request: web.Request) -> web.Response:
            self.requests.append(method)
            try:
                self._authorize(request.headers.get("Authorization", ""))
                reply = handler(await request.read())
            except TwirpFailure as failure:
                return web.json_response({"code": failure.code, "msg": failure.message}, status=failure.status)
            return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")
        return serve

    def _authorize(self, header: str) -> None:
        if not header.startswith("Bearer "):
            raise TwirpFailure("unauthenticated", "no authorization header", 401)
        try:
            claims = api.TokenVerifier(API_KEY, API_SECRET).verify(header.removeprefix("Bearer "))
        except Exception as exc:
            raise TwirpFailure("unauthenticated", f"invalid token: {exc}", 401) from exc
        if not (claims.sip and claims.sip.admin):
            raise TwirpFailure("permission_denied", "requires SIP admin permission", 403)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _check_numbers_free(self, trunk: sip_proto.SIPInboundTrunkInfo) -> None:
        for other in self.trunks.values():
            shared = set(other.numbers) & set(trunk.numbers)
            if other.sip_trunk_id != trunk.sip_trunk_id and shared:
                raise TwirpFailure("invalid_argument", f"Conflicting inbound SIP Trunks: {trunk.sip_trunk_id!r} and "
                                   f"{other.sip_trunk_id!r}, using the same number(s) {sorted(shared)}", 400)

    # --- trunks --------------------------------------------------------------------------------

    def _list_trunks(self, body: bytes) -> Any:
        request = sip_proto.ListSIPInboundTrunkRequest.FromString(body)
        items = [trunk for trunk in self.trunks.values()
                 if (not request.trunk_ids or trunk.sip_trunk_id in request.trunk_ids)
                 and (not request.numbers or set(trunk.numbers) & set(request.numbers))]
        return sip_proto.ListSIPInboundTrunkResponse(items=items)

    def _create_trunk(self, body: bytes) -> Any:
        request = sip_proto.CreateSIPInboundTrunkRequest.FromString(body)
        trunk = sip_proto.SIPInboundTrunkInfo()
        trunk.CopyFrom(request.trunk)
        trunk.sip_trunk_id = self._new_id("ST")
        self._check_numbers_free(trunk)
        self.trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def _update_trunk(self, body: bytes) -> Any:
        request = sip_proto.UpdateSIPInboundTrunkRequest.FromString(body)
        if request.sip_trunk_id not in self.trunks:
            raise TwirpFailure("not_found", f"SIP trunk {request.sip_trunk_id} not found", 404)
        trunk = sip_proto.SIPInboundTrunkInfo()
        trunk.CopyFrom(self.trunks[request.sip_trunk_id])
        if request.WhichOneof("action") == "replace":
            trunk.CopyFrom(request.replace)
            trunk.sip_trunk_id = request.sip_trunk_id
        else:
            update = request.update
            for name in ("numbers", "allowed_addresses", "allowed_numbers"):
                if update.HasField(name):
                    values = _apply_list_update(list(getattr(trunk, name)), getattr(update, name))
                    del getattr(trunk, name)[:]
                    getattr(trunk, name).extend(values)
            for name in ("auth_username", "auth_password", "auth_realm", "name", "metadata"):
                if update.HasField(name):
                    setattr(trunk, name, getattr(update, name))
        self._check_numbers_free(trunk)
        self.trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def _delete_trunk(self, body: bytes) -> Any:
        request = sip_proto.DeleteSIPTrunkRequest.FromString(body)
        trunk = self.trunks.pop(request.sip_trunk_id, None) or self.outbound_trunks.pop(request.sip_trunk_id, None)
        if trunk is None:
            raise TwirpFailure("not_found", f"SIP trunk {request.sip_trunk_id} not found", 404)
        return sip_proto.SIPTrunkInfo(sip_trunk_id=trunk.sip_trunk_id, name=trunk.name)

    # --- outbound trunks (no number conflicts: the server allows a number on several) ----------------

    def _list_outbound_trunks(self, body: bytes) -> Any:
        request = sip_proto.ListSIPOutboundTrunkRequest.FromString(body)
        items = [trunk for trunk in self.outbound_trunks.values()
                 if not request.trunk_ids or trunk.sip_trunk_id in request.trunk_ids]
        return sip_proto.ListSIPOutboundTrunkResponse(items=items)

    def _create_outbound_trunk(self, body: bytes) -> Any:
        request = sip_proto.CreateSIPOutboundTrunkRequest.FromString(body)
        if not request.trunk.address:
            raise TwirpFailure("invalid_argument", "no trunk address specified", 400)
        trunk = sip_proto.SIPOutboundTrunkInfo()
        trunk.CopyFrom(request.trunk)
        trunk.sip_trunk_id = self._new_id("ST")
        self.outbound_trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def _update_outbound_trunk(self, body: bytes) -> Any:
        request = sip_proto.UpdateSIPOutboundTrunkRequest.FromString(body)
        if request.sip_trunk_id not in self.outbound_trunks:
            raise TwirpFailure("not_found", f"SIP trunk {request.sip_trunk_id} not found", 404)
        trunk = sip_proto.SIPOutboundTrunkInfo()
        trunk.CopyFrom(self.outbound_trunks[request.sip_trunk_id])
        if request.WhichOneof("action") == "replace":
            trunk.CopyFrom(request.replace)
            trunk.sip_trunk_id = request.sip_trunk_id
        else:
            update = request.update
            if update.HasField("numbers"):
                values = _apply_list_update(list(trunk.numbers), update.numbers)
                del trunk.numbers[:]
                trunk.numbers.extend(values)
            for name in ("address", "transport", "auth_username", "auth_password", "name", "metadata"):
                if update.HasField(name):
                    setattr(trunk, name, getattr(update, name))
        self.outbound_trunks[trunk.sip_trunk_id] = trunk
        return trunk

    # --- dispatch rules -------------------------------------------------------------------------

    def _list_rules(self, body: bytes) -> Any:
        request = sip_proto.ListSIPDispatchRuleRequest.FromString(body)
        items = [rule for rule in self.rules.values()
                 if (not request.dispatch_rule_ids or rule.sip_dispatch_rule_id in request.dispatch_rule_ids)
                 and (not request.trunk_ids or set(rule.trunk_ids) & set(request.trunk_ids))]
        return sip_proto.ListSIPDispatchRuleResponse(items=items)

    def _create_rule(self, body: bytes) -> Any:
        request = sip_proto.CreateSIPDispatchRuleRequest.FromString(body)
        rule = sip_proto.SIPDispatchRuleInfo()
        if request.HasField("dispatch_rule"):
            rule.CopyFrom(request.dispatch_rule)
        else:  # the older flat request
            rule.rule.CopyFrom(request.rule)
            rule.trunk_ids.extend(request.trunk_ids)
            rule.name, rule.metadata = request.name, request.metadata
            rule.room_config.CopyFrom(request.room_config)
        if not rule.rule.WhichOneof("rule"):
            raise TwirpFailure("invalid_argument", "dispatch rule is required", 400)
        for trunk_id in rule.trunk_ids:
            if trunk_id not in self.trunks:
                raise TwirpFailure("invalid_argument", f"unknown SIP trunk {trunk_id}", 400)
        rule.sip_dispatch_rule_id = self._new_id("SDR")
        self.rules[rule.sip_dispatch_rule_id] = rule
        return rule

    def _update_rule(self, body: bytes) -> Any:
        request = sip_proto.UpdateSIPDispatchRuleRequest.FromString(body)
        if request.sip_dispatch_rule_id not in self.rules:
            raise TwirpFailure("not_found", f"SIP dispatch rule {request.sip_dispatch_rule_id} not found", 404)
        rule = sip_proto.SIPDispatchRuleInfo()
        rule.CopyFrom(self.rules[request.sip_dispatch_rule_id])
        if request.WhichOneof("action") == "replace":
            rule.CopyFrom(request.replace)
            rule.sip_dispatch_rule_id = request.sip_dispatch_rule_id
        else:
            update = request.update
            if update.HasField("trunk_ids"):
                values = _apply_list_update(list(rule.trunk_ids), update.trunk_ids)
                del rule.trunk_ids[:]
                rule.trunk_ids.extend(values)
            if update.HasField("rule"):
                rule.rule.CopyFrom(update.rule)
            for name in ("name", "metadata"):
                if update.HasField(name):
                    setattr(rule, name, getattr(update, name))
        self.rules[rule.sip_dispatch_rule_id] = rule
        return rule

    def _delete_rule(self, body: bytes) -> Any:
        request = sip_proto.DeleteSIPDispatchRuleRequest.FromString(body)
        rule = self.rules.pop(request.sip_dispatch_rule_id, None)
        if rule is None:
            raise TwirpFailure("not_found", f"SIP dispatch rule {request.sip_dispatch_rule_id} not found", 404)
        return rule
