"""Call tokens: what the voice worker sends with every tool call and the end-of-call log.

A call token is a Django-signed (HMAC with SECRET_KEY and its own salt) JSON object naming the
tenant's schema, the call and the moment the token stops being accepted. It is issued once, when the
call starts, and expires `max_call_seconds + CALL_TOKEN_GRACE_SECONDS` after that: long enough for
the longest call plus a slow end-of-call log, short enough that a leaked token is soon useless.

The expiry is carried in the signed payload and compared with `core.clock`, so tests can issue
a token "an hour ago" without sleeping. Nothing else about a token is trusted: the API still checks
that the tenant and the call exist, and only ever opens the schema the token names.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from core import clock

SALT = "soniq.calls.call-token.v1"


class InvalidCallToken(Exception):
    """The token is malformed, tampered with, expired or names something that does not exist."""


@dataclass(frozen=True)
class CallTokenClaims:
    schema_name: str
    call_id: str
    expires_at: dt.datetime


def call_token_issue(*, schema_name: str, call_id: str, max_call_seconds: int, issued_at: dt.datetime | None = None) -> str:
    issued_at = issued_at or clock.now()
    expires_at = issued_at + dt.timedelta(seconds=max_call_seconds + settings.CALL_TOKEN_GRACE_SECONDS)
    payload = {"s": schema_name, "c": str(call_id), "e": int(expires_at.timestamp())}
    return signing.Signer(salt=SALT).sign_object(payload)


def call_token_read(token: str, *, accept_expired_for_seconds: int = 0) -> CallTokenClaims:
    """The claims of a genuine, unexpired token; `InvalidCallToken` for anything else.

    `accept_expired_for_seconds` lets one endpoint take a genuine token past its expiry: the
    end-of-call log, which a voice worker re-sends from its spool after an API outage. Tool calls
    never do, so a leaked token still stops booking or reading anything soon after the call."""
    if not token or len(token) > 1000:
        raise InvalidCallToken("The call token is missing or malformed.")
    try:
        payload = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        # BadSignature covers tampering; the others cover a valid signature over junk, which only
        # a holder of SECRET_KEY could produce, but must still not become a 500.
        raise InvalidCallToken("The call token is not valid.") from exc
    if not isinstance(payload, dict) or not all(isinstance(payload.get(key), str) for key in ("s", "c")) \
            or not isinstance(payload.get("e"), int):
        raise InvalidCallToken("The call token is not valid.")
    try:
        expires_at = dt.datetime.fromtimestamp(payload["e"], tz=dt.UTC)
        accepted_until = expires_at + dt.timedelta(seconds=accept_expired_for_seconds)
    except (OverflowError, OSError, ValueError) as exc:
        # An expiry outside the calendar (e = ±10**20): signed, so only a holder of SECRET_KEY
        # could make one, but it is still a bad token, not a 500.
        raise InvalidCallToken("The call token is not valid.") from exc
    if clock.now() >= accepted_until:
        raise InvalidCallToken("The call token has expired.")
    return CallTokenClaims(schema_name=payload["s"], call_id=payload["c"], expires_at=expires_at)
