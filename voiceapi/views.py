"""The internal voice API: call start and the end-of-call log (the voice tools: voiceapi/tools.py).

Views are thin: check the token, check the shape of the body, call one service or selector inside
the tenant schema the token names, and wrap the result in the one response format:

    200 {"ok": true, "result": {...}, "message": "<one sentence the agent can say>"}
    4xx {"ok": false, "error": {"code": "<snake_case>", "message": "<speakable sentence>", "details"?: {...}}}

Every failure, including bad JSON, a wrong method or an unexpected exception, is rendered in that
format by `internal_api_exception_handler`. A 500 is always a bug, never bad input. The contract is
written up in docs/internal-api.md.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import tenant_context
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from calls import ingestion, recordings
from calls.callback_dialing import (
    InvalidCallbackGrant,
    callback_attempt_record,
    callback_call_start,
    callback_grant_read,
)
from calls.models import Call, CallbackAttempt
from calls.selectors import call_get
from calls.services import call_start
from core import clock
from core.errors import DomainError, ToolOutcome, validation_message
from tenants.agent.selectors import agent_settings_get
from tenants.selectors import tenant_for_called_number, tenant_for_schema
from voiceapi import serializers as shapes
from voiceapi.authentication import (
    CallAccess,
    CallLogTokenAuthentication,
    CallTokenAuthentication,
    InternalTokenAuthentication,
)
from voiceapi.call_config import call_config_build
from voiceapi.errors import http_status
from voiceapi.tokens import call_token_issue
from voiceapi.trial_calls import InvalidTrialGrant, agent_settings_with_draft, trial_call_cleanup, trial_grant_read

logger = logging.getLogger("voiceapi.views")

TOOL_BODY_MAX_BYTES = 256 * 1024
# The end-of-call log: CALL_LOG_MAX_BYTES (2 MB) → 413 payload_too_large.
LOG_BODY_MAX_BYTES = settings.CALL_LOG_MAX_BYTES
# How many JSON values (numbers, texts, lists, objects...) a body may hold, counted before it is
# parsed: 2 MB of `[[],[],...]` is ~700,000 lists, ~110 MB in a gunicorn thread and as much again in
# the Celery task. A real 10-minute call's log holds a few thousand; the limits (2,000 turns, 500
# tool calls, 2,000 latency entries) hold ~30,000 at most.
TOOL_BODY_MAX_VALUES = 5_000
LOG_BODY_MAX_VALUES = 50_000
IDEMPOTENCY_KEY_MAX = 200
# A JSON string, escapes included (possessive: linear time whatever the text).
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
SORRY = "Sorry, something went wrong on our side. Please try again in a moment."


# --- response format ---------------------------------------------------------------------------

def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"ok": False, "error": error}


def success_body(outcome: ToolOutcome) -> dict[str, Any]:
    return {"ok": True, "result": outcome.result, "message": outcome.message, **outcome.extra}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = "Send the request body with a Content-Length header, not chunked."


API_EXCEPTION_CODES = {
    exceptions.ParseError: ("invalid_json", "The request body is not valid JSON."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Send the request body as JSON (Content-Type: application/json)."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This endpoint does not accept that method."),
    exceptions.NotAcceptable: ("not_acceptable", "This endpoint only answers in JSON."),
    exceptions.NotFound: ("not_found", "There is no such endpoint."),
    PayloadTooLarge: ("payload_too_large", "The request body is too large."),
    LengthRequired: ("length_required", "Send the request body with a Content-Length header, not chunked."),
}


def internal_api_exception_handler(exc: Exception, context: dict) -> Response:
    set_rollback()
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=http_status(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        return Response(error_body("invalid_request", validation_message(exc.detail), {"fields": exc.detail}),
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (exceptions.AuthenticationFailed, exceptions.NotAuthenticated)):
        headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else {}
        return Response(error_body("invalid_token", str(exc.detail)), status=status.HTTP_401_UNAUTHORIZED, headers=headers)
    if isinstance(exc, exceptions.APIException):
        code, message = API_EXCEPTION_CODES.get(type(exc), (exc.default_code, str(exc.detail)))
        return Response(error_body(code, message), status=exc.status_code)
    view = context.get("view")
    logger.exception("internal API error in %s (schema %s)", type(view).__name__, connection.schema_name)
    return Response(error_body("internal_error", SORRY), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


class BoundedJSONParser(BaseParser):
    """JSON, read with a size limit (Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply to streamed
    bodies), rejecting NaN/Infinity, which PostgreSQL's jsonb cannot hold."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        view = (parser_context or {}).get("view")
        limit = getattr(view, "max_body_bytes", TOOL_BODY_MAX_BYTES)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit // 1024} KB.")
        max_values = getattr(view, "max_json_values", TOOL_BODY_MAX_VALUES)
        if json_values_at_most(raw) > max_values:
            raise DomainError("payload_too_large", f"The request body holds more than {max_values:,} JSON values.",
                              details={"limit": max_values})
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError() from exc


def json_values_at_most(raw: bytes) -> int:
    """An upper bound on the number of values in the JSON text `raw`, in C speed and without building
    them: with the strings taken out, every value but the first follows a comma or opens a list or
    an object (a colon's value follows its key, which is a string)."""
    bare = _JSON_STRING.sub(b"", raw)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- base views --------------------------------------------------------------------------------

class InternalAPIView(APIView):
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    permission_classes: list = []
    max_body_bytes = TOOL_BODY_MAX_BYTES

    def get_exception_handler(self) -> Callable:
        return internal_api_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # DRF would quietly read a body without a JSON content type as `{}`, turning a client bug
        # into "field is required"; say what is actually wrong.
        # A chunked body has no Content-Length; Django's WSGI request then reads it as empty, and the
        # log endpoint accepted "no log" and refused the real one as a duplicate (issue 29, item 5).
        # The test server and some WSGI servers do not de-chunk at all: refuse before reading.
        if "HTTP_TRANSFER_ENCODING" in request.META and not request.META.get("CONTENT_LENGTH"):
            raise LengthRequired()
        has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        if has_body and request.content_type.split(";")[0].strip().lower() != "application/json":
            raise exceptions.UnsupportedMediaType(request.content_type)

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # The connection outlives the request (CONN_MAX_AGE); never leave it in a tenant schema.
            connection.set_schema_to_public()


class CallTokenView(InternalAPIView):
    """A view for one call: the call token has been verified, its tenant's schema is active and
    `self.call` is the call it names. Nothing else is reachable from here."""

    authentication_classes = [CallTokenAuthentication]
    call: Call

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        access: CallAccess = request.auth
        connection.set_tenant(access.tenant)
        call = call_get(call_id=access.claims.call_id, with_agent_language=True)
        if call is None:
            self.call_missing()
        self.call = call

    def call_missing(self) -> None:
        raise exceptions.AuthenticationFailed("The call token names a call that does not exist.")


# --- call start --------------------------------------------------------------------------------

@extend_schema_view(post=extend_schema(
    operation_id="call_start",
    summary="Start a call: create the call, issue its token, return the tenant's config",
    request=shapes.CallStartRequestSerializer,
    responses={201: shapes.CallStartResponse, 400: shapes.ErrorSerializer, 401: shapes.ErrorSerializer,
               404: OpenApiResponse(shapes.ErrorSerializer, description="unknown_number")},
    tags=["calls"],
))
class CallStartView(InternalAPIView):
    authentication_classes = [InternalTokenAuthentication]

    def post(self, request):
        serializer = shapes.CallStartRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["callback_grant"]:
            return self.callback_call_start(data)
        grant = None
        if data["test_grant"]:
            # A test call: the tenant comes from the platform's signature, never from the room.
            try:
                grant = trial_grant_read(data["test_grant"])
            except InvalidTrialGrant as exc:
                raise exceptions.AuthenticationFailed(str(exc)) from exc
            tenant = tenant_for_schema(schema_name=grant.schema_name)
            if tenant is None:
                raise exceptions.AuthenticationFailed("The test call grant names a business that does not exist.")
        else:
            if not data["called_number"]:
                # Optional only for a test call: say what a call from a phone line lacks, as before.
                missing = "called_number" not in request.data
                raise exceptions.ValidationError(
                    {"called_number": ["This field is required." if missing else "This field may not be blank."]})
            tenant = tenant_for_called_number(called_number=data["called_number"])
        if tenant is None:
            raise DomainError("unknown_number", "This number is not connected to any business.")
        now = clock.now()
        with tenant_context(tenant):
            agent_settings = agent_settings_get()
            if grant is not None:
                agent_settings = agent_settings_with_draft(saved=agent_settings, draft_key=grant.draft_key)
            call = call_start(called_number=data["called_number"] if grant is None else "",
                              caller_number=data["caller_number"], room=data["room"], sip_call_id=data["sip_call_id"],
                              now=now, is_test=grant is not None)
            config = call_config_build(tenant=tenant, call=call, now=now, agent_settings=agent_settings)
        token = call_token_issue(schema_name=tenant.schema_name, call_id=str(call.pk),
                                 max_call_seconds=call.max_call_seconds, issued_at=now)
        body = shapes.CallStartResponse(call_id=call.pk, call_token=token, config=config)
        return Response(body.model_dump(mode="json"), status=status.HTTP_201_CREATED)


    def callback_call_start(self, data) -> Response:
        """An outbound call returning a queued callback: the tenant and the attempt come from the
        platform's signature in the dispatch (calls/callback_dialing.py), never from the room."""
        try:
            grant = callback_grant_read(data["callback_grant"])
        except InvalidCallbackGrant as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        tenant = tenant_for_schema(schema_name=grant.schema_name)
        if tenant is None:
            raise exceptions.AuthenticationFailed("The callback grant names a business that does not exist.")
        now = clock.now()
        with tenant_context(tenant):
            attempt, call = callback_call_start(attempt_id=grant.attempt_id, room=data["room"], now=now)
            config = call_config_build(tenant=tenant, call=call, now=now, callback_request=attempt.callback_request)
        token = call_token_issue(schema_name=tenant.schema_name, call_id=str(call.pk),
                                 max_call_seconds=call.max_call_seconds, issued_at=now)
        body = shapes.CallStartResponse(call_id=call.pk, call_token=token, config=config)
        return Response(body.model_dump(mode="json"), status=status.HTTP_201_CREATED)


@extend_schema_view(post=extend_schema(
    operation_id="call_callback_attempt",
    summary="How the outbound call of a callback went (answered, voicemail, no answer, busy, failed)",
    request=shapes.CallbackAttemptRequestSerializer,
    responses={200: OpenApiResponse(description="recorded"), 400: shapes.ErrorSerializer,
               401: shapes.ErrorSerializer,
               403: OpenApiResponse(shapes.ErrorSerializer, description="wrong_call: the token is for another call"),
               404: OpenApiResponse(shapes.ErrorSerializer, description="not_a_callback: the call is not one"),
               409: OpenApiResponse(shapes.ErrorSerializer, description="attempt_already_recorded")},
    tags=["calls"],
))
class CallbackAttemptView(CallTokenView):
    """The worker reports the attempt's result once it knows it (calls/callback_dialing.py)."""

    def post(self, request, call_id):
        if str(call_id) != str(self.call.pk):
            raise DomainError("wrong_call", "This call token belongs to a different call.")
        serializer = shapes.CallbackAttemptRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attempt = CallbackAttempt.objects.filter(call=self.call).first()
        if attempt is None:
            raise DomainError("not_a_callback", _("This call is not a callback the agent placed."))
        attempt = callback_attempt_record(attempt_id=attempt.pk, result=serializer.validated_data["result"],
                                          detail=serializer.validated_data["detail"], now=clock.now())
        callback_request = attempt.callback_request
        callback_request.refresh_from_db()
        return Response({"ok": True, "result": {
            "result": attempt.result, "callback_status": callback_request.status,
            "next_attempt_at": callback_request.call_after.astimezone(request.auth.tenant.tzinfo).isoformat() if (
                callback_request.status == callback_request.Status.OPEN and callback_request.call_after
                and callback_request.call_after > attempt.started_at) else None,
        }, "message": ""}, status=status.HTTP_200_OK)


# --- end-of-call log ---------------------------------------------------------------------------

@extend_schema_view(post=extend_schema(
    operation_id="call_log",
    summary="The end-of-call log (accepted, stored asynchronously)",
    request=ingestion.CallLogIn,
    responses={202: shapes.CallLogResponseSerializer, 200: shapes.CallLogResponseSerializer,
               400: shapes.ErrorSerializer, 401: shapes.ErrorSerializer,
               403: OpenApiResponse(shapes.ErrorSerializer, description="wrong_call: the token is for another call"),
               404: OpenApiResponse(shapes.ErrorSerializer, description="unknown_call: the token's call does not exist"),
               409: OpenApiResponse(shapes.ErrorSerializer, description="log_already_received: the call already "
                                    "has a different log, which is kept"),
               411: OpenApiResponse(shapes.ErrorSerializer, description="length_required: a chunked body"),
               413: OpenApiResponse(shapes.ErrorSerializer, description="payload_too_large"),
               422: OpenApiResponse(shapes.ErrorSerializer, description="invalid_end_time: ended_at cannot "
                                    "belong to the call (before its start, or in the future)"),
               503: OpenApiResponse(shapes.ErrorSerializer, description="ingestion_unavailable: metadata saved, "
                                    "transcript not queued; send the log again later")},
    tags=["calls"],
))
class CallLogView(CallTokenView):
    """The log's shape, the hand-off to Celery and every status but 401/403 are calls/ingestion.py's."""

    authentication_classes = [CallLogTokenAuthentication]
    max_body_bytes = LOG_BODY_MAX_BYTES
    max_json_values = LOG_BODY_MAX_VALUES

    def call_missing(self) -> None:
        # A genuine token whose call is gone: there is nothing to attach the log to, and re-sending
        # will not change that.
        raise DomainError("unknown_call", "There is no such call.")

    def post(self, request, call_id):
        if str(call_id) != str(self.call.pk):
            raise DomainError("wrong_call", "This call token belongs to a different call.")
        result = ingestion.call_log_accept(call=self.call, payload=request.data, received_at=clock.now())
        # A test call has ended: what it booked or ordered goes, so it never holds a real caller's slot.
        trial_call_cleanup(call=self.call)
        # 2xx means "you may forget this log": 202 when queued, 200 when this exact log is stored.
        code = status.HTTP_202_ACCEPTED if result == ingestion.ACCEPTED else status.HTTP_200_OK
        return Response({"ok": True, "call_id": str(self.call.pk), "status": result}, status=code)


class OggAudioParser(BaseParser):
    """The recording's bytes as sent, up to RECORDING_MAX_BYTES (413 beyond)."""

    media_type = "audio/ogg"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.RECORDING_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The recording is larger than {limit // (1024 * 1024)} MB.")
        return raw


@extend_schema_view(post=extend_schema(
    operation_id="call_recording",
    summary="Upload the call's recording (stereo Ogg/Opus: caller left, agent right)",
    request={"audio/ogg": {"type": "string", "format": "binary"}},
    parameters=[OpenApiParameter("X-Recording-Offset-Seconds", float, OpenApiParameter.HEADER,
                                 description="Where the recording starts on the call's clock (transcript offsets)."),
                OpenApiParameter("X-Recording-Muted", str, OpenApiParameter.HEADER,
                                 description="JSON list of [channel, start, end] windows muted for card numbers.")],
    responses={201: OpenApiResponse(description="stored"), 200: OpenApiResponse(description="this exact recording is stored"),
               400: shapes.ErrorSerializer, 401: shapes.ErrorSerializer, 409: shapes.ErrorSerializer,
               413: shapes.ErrorSerializer,
               503: OpenApiResponse(shapes.ErrorSerializer, description="storage_unavailable: send it again later")},
    tags=["calls"],
))
class CallRecordingView(CallTokenView):
    """One recording per call, uploaded once the call is over (the worker spools and retries it, so
    the same bytes may come twice). Accepted with the log's token grace: a spooled upload is late."""

    authentication_classes = [CallLogTokenAuthentication]
    parser_classes = [OggAudioParser]

    def initial(self, request, *args, **kwargs):
        APIView.initial(self, request, *args, **kwargs)
        has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        if has_body and request.content_type.split(";")[0].strip().lower() != "audio/ogg":
            raise exceptions.UnsupportedMediaType(request.content_type)
        access: CallAccess = request.auth
        connection.set_tenant(access.tenant)
        call = call_get(call_id=access.claims.call_id)
        if call is None:
            raise DomainError("unknown_call", "There is no such call.")
        self.call = call

    def post(self, request, call_id):
        if str(call_id) != str(self.call.pk):
            raise DomainError("wrong_call", "This call token belongs to a different call.")
        try:
            offset = float(request.META.get("HTTP_X_RECORDING_OFFSET_SECONDS") or 0)
            muted = json.loads(request.META.get("HTTP_X_RECORDING_MUTED") or "[]")
        except ValueError:
            raise DomainError("invalid_recording", "The recording's offset or muted windows are not numbers.") from None
        if not isinstance(muted, list) or offset != offset:
            raise DomainError("invalid_recording", "The recording's offset or muted windows are not numbers.")
        audio = request.data if isinstance(request.data, bytes) else b""
        _stored, created = recordings.recording_store(call=self.call, audio=audio, started_offset_seconds=offset,
                                                muted=muted[:200])
        return Response({"ok": True, "call_id": str(self.call.pk), "status": "stored" if created else "already_stored"},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@csrf_exempt
def internal_not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("not_found", "There is no such endpoint."), status=404)


# --- OpenAPI security schemes ------------------------------------------------------------------

class InternalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "voiceapi.authentication.InternalTokenAuthentication"
    name = "internalToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("Authorization", "Bearer")


class CallTokenScheme(OpenApiAuthenticationExtension):
    target_class = "voiceapi.authentication.CallTokenAuthentication"
    match_subclasses = True  # the log endpoint's longer-lived variant is the same scheme
    name = "callToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("Authorization", "Bearer")
