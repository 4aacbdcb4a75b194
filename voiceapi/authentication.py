"""Who may call the internal voice API.

Two bearer tokens: the platform-wide INTERNAL_API_TOKEN (only for starting a call) and the per-call
token issued by call start (tools and the end-of-call log). Both failures are 401 with code
`invalid_token`; the exception handler in voiceapi/views.py renders them in the API's error format.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tenants.models import Tenant
from tenants.selectors import tenant_for_schema
from voiceapi.tokens import CallTokenClaims, InvalidCallToken, call_token_read


class InvalidToken(exceptions.AuthenticationFailed):
    default_code = "invalid_token"


def bearer_token(request) -> str:
    header = get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != b"bearer":
        return ""
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError:
        return ""


class InternalTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <INTERNAL_API_TOKEN>`. An empty setting refuses everyone rather than
    accepting an empty token."""

    def authenticate(self, request):
        expected = settings.INTERNAL_API_TOKEN
        presented = bearer_token(request)
        if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise InvalidToken("The internal API token is missing or wrong.")
        return (None, "internal")

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="soniq-internal"'


@dataclass(frozen=True)
class CallAccess:
    """What a valid call token grants: this tenant's schema, this call."""

    tenant: Tenant
    claims: CallTokenClaims


class CallTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <call_token>`. Verifies the signature and expiry and that the tenant
    still exists; the view then opens that tenant's schema and loads the call."""

    accept_expired_for_seconds = 0

    def authenticate(self, request):
        try:
            claims = call_token_read(bearer_token(request), accept_expired_for_seconds=self.accept_expired_for_seconds)
        except InvalidCallToken as exc:
            raise InvalidToken(str(exc)) from exc
        tenant = tenant_for_schema(schema_name=claims.schema_name)
        if tenant is None:
            raise InvalidToken("The call token names a business that does not exist.")
        return (None, CallAccess(tenant=tenant, claims=claims))

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="soniq-call"'


class CallLogTokenAuthentication(CallTokenAuthentication):
    """The call token, for the end-of-call log only, also for a while after it expired: a log the
    worker spooled during an API outage must still be accepted when it is re-sent. It can only
    write that call's log, which the ingestion stores idempotently."""

    @property
    def accept_expired_for_seconds(self) -> int:
        return settings.CALL_LOG_TOKEN_GRACE_SECONDS
