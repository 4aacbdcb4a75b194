"""The internal voice API: call start, the voice tools, the end-of-call log.

Views are thin: check the token, check the shape of the body, call one service or selector inside
the tenant schema the token names, and wrap the result in the one response format:

    200 {"ok": true, "result": {...}, "message": "<one sentence the agent can say>"}
    4xx {"ok": false, "error": {"code": "<snake_case>", "message": "<speakable sentence>", "details"?: {...}}}

Every failure, including bad JSON, a wrong method or an unexpected exception, is rendered in that
format by `internal_api_exception_handler`. A 500 is always a bug, never bad input. The contract is
written up in docs/internal-api.md.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import Http404, JsonResponse
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

from calls import ingestion
from calls import serializers as shapes
from calls.authentication import (
    CallAccess,
    CallLogTokenAuthentication,
    CallTokenAuthentication,
    InternalTokenAuthentication,
)
from calls.models import Call
from calls.selectors import call_config_build, call_get
from calls.services import (
    call_end_request,
    call_note_add,
    call_start,
    call_transfer_request,
    tool_response_idempotent,
)
from calls.tokens import call_token_issue
from soniq_site import clock
from soniq_site.domain import DomainError, ToolOutcome
from tenants.selectors import tenant_for_called_number

logger = logging.getLogger("calls.api")

TOOL_BODY_MAX_BYTES = 256 * 1024
# The end-of-call log: CALL_LOG_MAX_BYTES (2 MB) → 413 payload_too_large.
LOG_BODY_MAX_BYTES = settings.CALL_LOG_MAX_BYTES
IDEMPOTENCY_KEY_MAX = 200
SORRY = "Sorry, something went wrong on our side. Please try again in a moment."


# --- response format ---------------------------------------------------------------------------

def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"ok": False, "error": error}


def success_body(outcome: ToolOutcome) -> dict[str, Any]:
    return {"ok": True, "result": outcome.result, "message": outcome.message, **outcome.extra}


def _first_field_error(detail: Any, path: str = "") -> tuple[str, str]:
    """The first (field path, message) in DRF's nested error structure: `items[1].quantity`."""
    if isinstance(detail, dict):
        for name, sub in detail.items():
            if sub:
                if name in ("non_field_errors", "detail"):
                    child = path
                elif isinstance(name, int):  # list items come back keyed by index
                    child = f"{path}[{name}]"
                else:
                    child = f"{path}.{name}" if path else str(name)
                return _first_field_error(sub, child)
    if isinstance(detail, list):
        for index, sub in enumerate(detail):
            if sub:
                if isinstance(sub, (dict, list)):
                    return _first_field_error(sub, f"{path}[{index}]")
                return _first_field_error(sub, path)
    return path, str(detail)


def validation_message(detail: Any) -> str:
    """One sentence naming the field, so the model can fix its next tool call."""
    path, message = _first_field_error(detail)
    if not path:
        if "Expected a dictionary" in message:
            return "The request body must be a JSON object."
        return message
    if message.startswith("This field "):
        message = message[len("This field "):]
    if message[:1].islower():
        return f"The field {path} {message}"
    return f"The field {path} is not valid: {message}"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


API_EXCEPTION_CODES = {
    exceptions.ParseError: ("invalid_json", "The request body is not valid JSON."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Send the request body as JSON (Content-Type: application/json)."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This endpoint does not accept that method."),
    exceptions.NotAcceptable: ("not_acceptable", "This endpoint only answers in JSON."),
    exceptions.NotFound: ("not_found", "There is no such endpoint."),
    PayloadTooLarge: ("payload_too_large", "The request body is too large."),
}


def internal_api_exception_handler(exc: Exception, context: dict) -> Response:
    set_rollback()
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
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
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError() from exc


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
        call = call_get(call_id=access.claims.call_id)
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
    responses={201: shapes.CallStartResponseSerializer, 400: shapes.ErrorSerializer, 401: shapes.ErrorSerializer,
               404: OpenApiResponse(shapes.ErrorSerializer, description="unknown_number")},
    tags=["calls"],
))
class CallStartView(InternalAPIView):
    authentication_classes = [InternalTokenAuthentication]

    def post(self, request):
        serializer = shapes.CallStartRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = tenant_for_called_number(called_number=data["called_number"])
        if tenant is None:
            raise DomainError("unknown_number", "This number is not connected to any business.", status=404)
        now = clock.now()
        with tenant_context(tenant):
            call = call_start(called_number=data["called_number"], caller_number=data["caller_number"],
                              room=data["room"], sip_call_id=data["sip_call_id"], now=now)
            config = call_config_build(tenant=tenant, call=call, now=now)
        token = call_token_issue(schema_name=tenant.schema_name, call_id=str(call.pk),
                                 max_call_seconds=call.max_call_seconds, issued_at=now)
        return Response({"call_id": str(call.pk), "call_token": token, "config": config}, status=status.HTTP_201_CREATED)


# --- voice tools -------------------------------------------------------------------------------

def tool_respond(perform: Callable[[], ToolOutcome], *, writes: bool = True) -> tuple[int, dict[str, Any]]:
    """Run one tool service and turn its outcome or DomainError into (status, body). For writes, the
    savepoint keeps a refused write (say, the exclusion constraint) from poisoning an enclosing
    transaction; a read needs no transaction (and saves the BEGIN/COMMIT round trips)."""
    try:
        with transaction.atomic() if writes else contextlib.nullcontext():
            outcome = perform()
    except DomainError as error:
        return error.status, error_body(error.code, error.message, error.details)
    return status.HTTP_200_OK, success_body(outcome)


def request_fingerprint(action: str, data: Any) -> str:
    canonical = json.dumps([action, data], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


TOOL_RESPONSES = {
    200: shapes.ToolSuccessSerializer,
    400: OpenApiResponse(shapes.ErrorSerializer, description="invalid_request: a field is missing, unknown or malformed"),
    401: OpenApiResponse(shapes.ErrorSerializer, description="invalid_token"),
    404: OpenApiResponse(shapes.ErrorSerializer, description="booking_not_found: not the caller's, or no such booking"),
    409: OpenApiResponse(shapes.ErrorSerializer, description="call_ended, slot_taken, booking_cancelled"),
    422: OpenApiResponse(shapes.ErrorSerializer, description="A business rule refused the request (see the code)"),
}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Same key within a call → the first response is replayed and nothing new is created.",
)


class VoiceToolView(CallTokenView):
    """One voice tool. Subclasses name the tool, its request shape and the one service it calls."""

    tool_name: str
    request_serializer: type[shapes.StrictSerializer]
    # create_booking and create_order must survive the worker's retries.
    idempotent = False
    # After the end-of-call log the call is over; only annotations are still accepted.
    allowed_after_end = False
    writes = True

    def perform(self, *, call: Call, data: dict[str, Any]) -> ToolOutcome:
        raise NotImplementedError

    def post(self, request):
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        call, data = self.call, serializer.validated_data
        if call.status == Call.Status.ENDED and not self.allowed_after_end:
            raise DomainError("call_ended", "This call has already ended.", status=409)
        key = request.headers.get("Idempotency-Key", "").strip() if self.idempotent else ""
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise DomainError("invalid_request", f"The Idempotency-Key header must be at most {IDEMPOTENCY_KEY_MAX} characters.",
                              status=400)

        def respond() -> tuple[int, dict[str, Any]]:
            return tool_respond(lambda: self.perform(call=call, data=data), writes=self.writes)

        if not key:
            status_code, body = respond()
            return Response(body, status=status_code)
        status_code, body, replayed = tool_response_idempotent(
            call=call, key=key, action=self.tool_name, request_hash=request_fingerprint(self.tool_name, request.data),
            respond=respond,
        )
        return Response(body, status=status_code, headers={"Idempotent-Replayed": "true"} if replayed else None)


def _tool_schema(name: str, summary: str, request_serializer, *, idempotent: bool = False):
    return extend_schema_view(post=extend_schema(
        operation_id=name, summary=summary, request=request_serializer, responses=TOOL_RESPONSES,
        parameters=[IDEMPOTENCY_HEADER] if idempotent else None, tags=["voice tools"],
    ))


@_tool_schema("check_availability", "Is a time free, and the nearest free start times",
              shapes.CheckAvailabilityRequestSerializer)
class CheckAvailabilityView(VoiceToolView):
    tool_name = "check_availability"
    request_serializer = shapes.CheckAvailabilityRequestSerializer
    writes = False

    def perform(self, *, call, data):
        from bookings.selectors import availability_check

        return availability_check(service_name=data["service"], date=data["date"], time=data["time"], now=clock.now())


@_tool_schema("create_booking", "Book a service at a start time", shapes.CreateBookingRequestSerializer, idempotent=True)
class CreateBookingView(VoiceToolView):
    tool_name = "create_booking"
    request_serializer = shapes.CreateBookingRequestSerializer
    idempotent = True

    def perform(self, *, call, data):
        from bookings.services import booking_create

        return booking_create(service_name=data["service"], start=data["start"], customer_name=data["customer_name"],
                              customer_phone=data["customer_phone"], notes=data["notes"], call=call, now=clock.now())


@_tool_schema("create_order", "Place an order from the menu", shapes.CreateOrderRequestSerializer, idempotent=True)
class CreateOrderView(VoiceToolView):
    tool_name = "create_order"
    request_serializer = shapes.CreateOrderRequestSerializer
    idempotent = True

    def perform(self, *, call, data):
        from orders.services import order_create

        items = [{"name": item["name"], "quantity": item["quantity"], "notes": item["notes"]} for item in data["items"]]
        return order_create(items=items, customer_name=data["customer_name"], customer_phone=data["customer_phone"],
                            fulfillment=data["fulfillment"], delivery_address=data["delivery_address"],
                            notes=data["notes"], call=call, now=clock.now())


@_tool_schema("transfer_to_human", "Transfer to a person now, or queue a callback",
              shapes.TransferToHumanRequestSerializer)
class TransferToHumanView(VoiceToolView):
    tool_name = "transfer_to_human"
    request_serializer = shapes.TransferToHumanRequestSerializer

    def perform(self, *, call, data):
        return call_transfer_request(call=call, reason=data["reason"], now=clock.now(),
                                     transfer_failed=data["transfer_failed"], callback_number=data["callback_number"],
                                     caller_name=data["caller_name"])


@_tool_schema("end_call", "Record the outcome; the worker hangs up", shapes.EndCallRequestSerializer)
class EndCallView(VoiceToolView):
    tool_name = "end_call"
    request_serializer = shapes.EndCallRequestSerializer
    # After the log the outcome is the log's: a late end_call must not change how the call went.

    def perform(self, *, call, data):
        return call_end_request(call=call, reason=data["reason"], outcome=data["outcome"])


@_tool_schema("log_note", "Attach a note to the call", shapes.LogNoteRequestSerializer)
class LogNoteView(VoiceToolView):
    tool_name = "log_note"
    request_serializer = shapes.LogNoteRequestSerializer
    allowed_after_end = True

    def perform(self, *, call, data):
        return call_note_add(call=call, note=data["note"])


# --- a caller's existing bookings and orders ---------------------------------------------------

@_tool_schema("find_bookings", "The caller's upcoming bookings (by caller number, or phone + name)",
              shapes.FindBookingsRequestSerializer)
class FindBookingsView(VoiceToolView):
    tool_name = "find_bookings"
    request_serializer = shapes.FindBookingsRequestSerializer
    writes = False

    def perform(self, *, call, data):
        from bookings.selectors import booking_find

        return booking_find(caller_number=call.caller_number, customer_phone=data["customer_phone"],
                            customer_name=data["customer_name"], now=clock.now())


@_tool_schema("reschedule_booking", "Move one of the caller's bookings to a new start",
              shapes.RescheduleBookingRequestSerializer, idempotent=True)
class RescheduleBookingView(VoiceToolView):
    tool_name = "reschedule_booking"
    request_serializer = shapes.RescheduleBookingRequestSerializer
    idempotent = True

    def perform(self, *, call, data):
        from bookings.services import booking_reschedule

        return booking_reschedule(booking_id=data["booking_id"], start=data["start"], caller_number=call.caller_number,
                                  customer_phone=data["customer_phone"], customer_name=data["customer_name"],
                                  call=call, now=clock.now())


@_tool_schema("cancel_booking", "Cancel one of the caller's bookings", shapes.CancelBookingRequestSerializer,
              idempotent=True)
class CancelBookingView(VoiceToolView):
    tool_name = "cancel_booking"
    request_serializer = shapes.CancelBookingRequestSerializer
    idempotent = True

    def perform(self, *, call, data):
        from bookings.services import booking_cancel_by_caller

        return booking_cancel_by_caller(booking_id=data["booking_id"], reason=data["reason"],
                                        caller_number=call.caller_number, customer_phone=data["customer_phone"],
                                        customer_name=data["customer_name"], call=call, now=clock.now())


@_tool_schema("order_status", "The caller's orders of the last 24 hours", shapes.OrderStatusRequestSerializer)
class OrderStatusView(VoiceToolView):
    tool_name = "order_status"
    request_serializer = shapes.OrderStatusRequestSerializer
    writes = False

    def perform(self, *, call, data):
        from orders.selectors import order_status

        return order_status(caller_number=call.caller_number, now=clock.now())


CALLER_CHANGE_VIEWS = (FindBookingsView, RescheduleBookingView, CancelBookingView, OrderStatusView)
TOOL_VIEWS = (CheckAvailabilityView, CreateBookingView, CreateOrderView, TransferToHumanView, EndCallView, LogNoteView,
              *CALLER_CHANGE_VIEWS)


@extend_schema(exclude=True)
class UnknownToolView(CallTokenView):
    def post(self, request, action: str):
        names = ", ".join(view.tool_name for view in TOOL_VIEWS)
        raise DomainError("unknown_tool", f"There is no tool called {action[:50]!r}. The tools are: {names}.", status=404)


# --- end-of-call log ---------------------------------------------------------------------------

@extend_schema_view(post=extend_schema(
    operation_id="call_log",
    summary="The end-of-call log (accepted, stored asynchronously)",
    request=ingestion.CallLogIn,
    responses={202: ingestion.CallLogResponseSerializer, 200: ingestion.CallLogResponseSerializer,
               400: shapes.ErrorSerializer, 401: shapes.ErrorSerializer,
               403: OpenApiResponse(shapes.ErrorSerializer, description="wrong_call: the token is for another call"),
               404: OpenApiResponse(shapes.ErrorSerializer, description="unknown_call: the token's call does not exist"),
               409: OpenApiResponse(shapes.ErrorSerializer, description="log_already_received: the call already "
                                    "has a different log, which is kept"),
               413: OpenApiResponse(shapes.ErrorSerializer, description="payload_too_large"),
               503: OpenApiResponse(shapes.ErrorSerializer, description="ingestion_unavailable: metadata saved, "
                                    "transcript not queued; send the log again later")},
    tags=["calls"],
))
class CallLogView(CallTokenView):
    """The log's shape, the hand-off to Celery and every status but 401/403 are calls/ingestion.py's."""

    authentication_classes = [CallLogTokenAuthentication]
    max_body_bytes = LOG_BODY_MAX_BYTES

    def call_missing(self) -> None:
        # A genuine token whose call is gone: there is nothing to attach the log to, and re-sending
        # will not change that.
        raise DomainError("unknown_call", "There is no such call.", status=404)

    def post(self, request, call_id):
        if str(call_id) != str(self.call.pk):
            raise DomainError("wrong_call", "This call token belongs to a different call.", status=403)
        status_code, body = ingestion.call_log_accept(call=self.call, payload=request.data, received_at=clock.now())
        return Response(body, status=status_code)


@csrf_exempt
def internal_not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("not_found", "There is no such endpoint."), status=404)


# --- OpenAPI security schemes ------------------------------------------------------------------

class InternalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "calls.authentication.InternalTokenAuthentication"
    name = "internalToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("Authorization", "Bearer")


class CallTokenScheme(OpenApiAuthenticationExtension):
    target_class = "calls.authentication.CallTokenAuthentication"
    match_subclasses = True  # the log endpoint's longer-lived variant is the same scheme
    name = "callToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("Authorization", "Bearer")
