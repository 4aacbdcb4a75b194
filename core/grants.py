"""A short-lived grant the platform signs and reads back: the test call a signed-in owner starts from
the browser (`voiceapi.trial_calls`), the callback the agent places (`calls.callback_dialing`). The
worker carries it from the dispatch's metadata to `/internal/calls/start`, which takes the tenant from
the signature alone; the worker cannot forge or widen one.

Django's signing (salted per kind of grant, so one kind is never accepted as another) and an expiry of
our own, read from `core.clock` so that tests move time the way the rest of the platform sees it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.core import signing

from core import clock

# No grant is longer than this; a longer one is not worth unsigning.
MAX_LENGTH = 2000


class GrantRefused(Exception):
    """Missing, malformed, not signed by us, of the wrong shape, or expired: the sentence says which."""


class GrantExpired(GrantRefused):
    pass


def grant_sign(payload: dict[str, Any], *, salt: str, valid_seconds: int, now: dt.datetime | None = None) -> str:
    expires = (now or clock.now()) + dt.timedelta(seconds=valid_seconds)
    return signing.Signer(salt=salt).sign_object({**payload, "e": int(expires.timestamp())})


def grant_read(grant: str, *, salt: str, fields: dict[str, type], what: str) -> dict[str, Any]:
    """The payload of a grant signed with `salt`, each of `fields` of its type; `what` names the grant
    in the refusal ("the callback grant")."""
    if not grant or len(grant) > MAX_LENGTH:
        raise GrantRefused(f"{what.capitalize()} is missing or malformed.")
    try:
        payload = signing.Signer(salt=salt).unsign_object(grant)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise GrantRefused(f"{what.capitalize()} is not valid.") from exc
    shape = {**fields, "e": int}
    if not isinstance(payload, dict) or not all(type(payload.get(key)) is kind for key, kind in shape.items()):
        raise GrantRefused(f"{what.capitalize()} is not valid.")
    if clock.now().timestamp() >= payload["e"]:
        raise GrantExpired(f"{what.capitalize()} has expired.")
    return payload
