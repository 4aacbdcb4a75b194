"""The voice tools: `POST /internal/voice-tools/<name>`. Each view checks the token and the body's shape,
then calls one domain service in the call's tenant schema (see `VIEWS`), and renders its outcome or its
DomainError in the one response format (docs/internal-api.md)."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import translation
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from bookings.selectors import availability_check
from bookings.verification import booking_find_counted
from bookings.voice import booking_read_back, cancel_booking, create_booking, reschedule_booking
from calendars.services import calendars_refresh_for_call
from calls.callback_dialing import callback_call_do_not_call
from calls.models import Call
from calls.services import call_end_request, call_note_add, call_transfer_request
from core import clock
from core.call_contract import TOOL_NAMES, TOOLS_BY_NAME
from core.errors import DomainError, ToolOutcome
from orders.selectors import order_status
from orders.voice import create_order, order_read_back
from voiceapi import serializers as shapes
from voiceapi.errors import http_status
from voiceapi.idempotency import request_fingerprint, tool_response_idempotent
from voiceapi.trial_calls import trial_call_may_change_booking
from voiceapi.views import IDEMPOTENCY_KEY_MAX, CallTokenView, error_body, success_body


def tool_respond(perform: Callable[[], ToolOutcome], *, writes: bool = True) -> tuple[int, dict[str, Any]]:
    """Run one tool service and turn its outcome or DomainError into (status, body). For writes, the
    savepoint keeps a refused write (say, the exclusion constraint) from poisoning an enclosing
    transaction; a read needs no transaction (and saves the BEGIN/COMMIT round trips)."""
    try:
        with transaction.atomic() if writes else contextlib.nullcontext():
            outcome = perform()
    except DomainError as error:
        return http_status(error), error_body(error.code, error.message, error.details)
    return status.HTTP_200_OK, success_body(outcome)


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

    # Whether it takes an Idempotency-Key is the tool table's (core.call_contract.TOOLS: "keyed").
    tool_name: str
    request_serializer: type[shapes.StrictSerializer]
    # After the end-of-call log the call is over; only annotations are still accepted.
    allowed_after_end = False
    writes = True
    # The service writes in its own atomic block and raises only once that is rolled back, so a
    # refusal leaves nothing to undo: no savepoint of ours around it (two round trips, the RELEASE
    # of them while the booking's transaction still holds the service's row lock).
    writes_atomically = False
    # Tools that decide on availability read stale calendars first, outside the transaction (a
    # bounded wait; on timeout the call goes on with the last known busy times: calendars.services).
    reads_calendars = False

    def perform(self, *, call: Call, data: dict[str, Any]) -> ToolOutcome:
        raise NotImplementedError

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Every sentence the caller hears (a refusal, an offer, a confirmation) in the business's
        # language: the services word them with gettext while this is active. The field errors of a
        # malformed request stay English: they are for the model to fix its call, not for the caller.
        # Read with the call (CallTokenView): no round trip of its own.
        translation.activate(self.call.agent_language or "en")

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            translation.deactivate()  # the thread serves the next request, maybe another tenant's

    def post(self, request):
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        call, data = self.call, serializer.validated_data
        if call.status == Call.Status.ENDED and not self.allowed_after_end:
            raise DomainError("call_ended", "This call has already ended.")
        key = request.headers.get("Idempotency-Key", "").strip() if TOOLS_BY_NAME[self.tool_name].keyed else ""
        if len(key) > IDEMPOTENCY_KEY_MAX:
            raise DomainError("invalid_request", f"The Idempotency-Key header must be at most {IDEMPOTENCY_KEY_MAX} characters.")

        if self.reads_calendars:
            calendars_refresh_for_call(call=call)

        def respond() -> tuple[int, dict[str, Any]]:
            return tool_respond(lambda: self.perform(call=call, data=data), writes=self.writes and not self.writes_atomically)

        if not key:
            status_code, body = respond()
            return Response(body, status=status_code)
        status_code, body, replayed = tool_response_idempotent(
            call=call, key=key, action=self.tool_name, request_hash=request_fingerprint(self.tool_name, request.data),
            respond=respond,
        )
        return Response(body, status=status_code, headers={"Idempotent-Replayed": "true"} if replayed else None)


def _tool_schema(name: str, summary: str, request_serializer):
    return extend_schema_view(post=extend_schema(
        operation_id=name, summary=summary, request=request_serializer, responses=TOOL_RESPONSES,
        parameters=[IDEMPOTENCY_HEADER] if TOOLS_BY_NAME[name].keyed else None, tags=["voice tools"],
    ))


@_tool_schema("check_availability", "Is a time free, and the nearest free start times",
              shapes.CheckAvailabilityRequestSerializer)
class CheckAvailabilityView(VoiceToolView):
    tool_name = "check_availability"
    request_serializer = shapes.CheckAvailabilityRequestSerializer
    writes = False
    reads_calendars = True

    def perform(self, *, call, data):
        return availability_check(service_name=data["service"], date=data["date"], time=data["time"], now=clock.now())


@_tool_schema("create_booking", "Book a service at a start time", shapes.CreateBookingRequestSerializer)
class CreateBookingView(VoiceToolView):
    tool_name = "create_booking"
    request_serializer = shapes.CreateBookingRequestSerializer
    reads_calendars = True
    writes_atomically = True  # bookings.services.booking_create

    def perform(self, *, call, data):
        if not data["confirmed"]:
            # Names and numbers are misheard: the caller hears them read back before anything is booked.
            raise booking_read_back(service_name=data["service"], start=data["start"],
                                    customer_name=data["customer_name"], customer_phone=data["customer_phone"],
                                    now=clock.now())
        return create_booking(service_name=data["service"], start=data["start"], customer_name=data["customer_name"],
                              customer_phone=data["customer_phone"], notes=data["notes"], call=call, now=clock.now())


@_tool_schema("create_order", "Place an order from the menu", shapes.CreateOrderRequestSerializer)
class CreateOrderView(VoiceToolView):
    tool_name = "create_order"
    request_serializer = shapes.CreateOrderRequestSerializer

    def perform(self, *, call, data):
        items = [{"name": item["name"], "quantity": item["quantity"], "notes": item["notes"]} for item in data["items"]]
        if not data["confirmed"]:
            raise order_read_back(items=items, customer_name=data["customer_name"],
                                  customer_phone=data["customer_phone"], fulfillment=data["fulfillment"],
                                  delivery_address=data["delivery_address"], now=clock.now())
        return create_order(items=items, customer_name=data["customer_name"], customer_phone=data["customer_phone"],
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


@_tool_schema("do_not_call", "The customer asked not to be called again (a callback the agent placed)",
              shapes.DoNotCallRequestSerializer)
class DoNotCallView(VoiceToolView):
    tool_name = "do_not_call"
    request_serializer = shapes.DoNotCallRequestSerializer
    allowed_after_end = True

    def perform(self, *, call, data):
        return callback_call_do_not_call(call=call)


# --- a caller's existing bookings and orders ---------------------------------------------------

@_tool_schema("find_bookings", "The caller's upcoming bookings (by caller number, or phone + name)",
              shapes.FindBookingsRequestSerializer)
class FindBookingsView(VoiceToolView):
    tool_name = "find_bookings"
    request_serializer = shapes.FindBookingsRequestSerializer
    writes = False

    def perform(self, *, call, data):
        return booking_find_counted(call=call, customer_phone=data["customer_phone"], customer_name=data["customer_name"],
                                    now=clock.now())


@_tool_schema("reschedule_booking", "Move one of the caller's bookings to a new start",
              shapes.RescheduleBookingRequestSerializer)
class RescheduleBookingView(VoiceToolView):
    tool_name = "reschedule_booking"
    request_serializer = shapes.RescheduleBookingRequestSerializer
    reads_calendars = True

    def perform(self, *, call, data):
        trial_call_may_change_booking(call=call, booking_id=data["booking_id"])
        return reschedule_booking(booking_id=data["booking_id"], start=data["start"], caller_number=call.caller_number,
                                  customer_phone=data["customer_phone"], customer_name=data["customer_name"],
                                  verification_code=data["verification_code"], call=call, now=clock.now())


@_tool_schema("cancel_booking", "Cancel one of the caller's bookings", shapes.CancelBookingRequestSerializer)
class CancelBookingView(VoiceToolView):
    tool_name = "cancel_booking"
    request_serializer = shapes.CancelBookingRequestSerializer

    def perform(self, *, call, data):
        trial_call_may_change_booking(call=call, booking_id=data["booking_id"])
        return cancel_booking(booking_id=data["booking_id"], reason=data["reason"],
                              caller_number=call.caller_number, customer_phone=data["customer_phone"],
                              customer_name=data["customer_name"], verification_code=data["verification_code"],
                              call=call, now=clock.now())


@_tool_schema("order_status", "The caller's orders of the last 24 hours", shapes.OrderStatusRequestSerializer)
class OrderStatusView(VoiceToolView):
    tool_name = "order_status"
    request_serializer = shapes.OrderStatusRequestSerializer
    writes = False

    def perform(self, *, call, data):
        return order_status(caller_number=call.caller_number, now=clock.now())


# From a tool's name (core.call_contract.TOOLS: the URL `/internal/voice-tools/<name>`, the worker's
# function tool) to its view; each view calls the one service named in its `perform`:
#   check_availability -> bookings.selectors.availability_check
#   create_booking     -> bookings.voice.create_booking -> bookings.services.booking_create
#   create_order       -> orders.voice.create_order -> orders.services.order_create
#   transfer_to_human  -> calls.services.call_transfer_request
#   end_call           -> calls.services.call_end_request
#   log_note           -> calls.services.call_note_add
#   do_not_call        -> calls.callback_dialing.callback_call_do_not_call
#   find_bookings      -> bookings.verification.booking_find_counted (bookings.selectors.booking_find, counted)
#   reschedule_booking -> bookings.voice.reschedule_booking -> bookings.services.booking_reschedule
#   cancel_booking     -> bookings.voice.cancel_booking -> bookings.services.booking_cancel_by_caller
#   order_status       -> orders.selectors.order_status
_VIEWS: tuple[type[VoiceToolView], ...] = (
    CheckAvailabilityView, CreateBookingView, CreateOrderView, TransferToHumanView, EndCallView, LogNoteView,
    DoNotCallView,
    FindBookingsView, RescheduleBookingView, CancelBookingView, OrderStatusView,
)
VIEWS: dict[str, type[VoiceToolView]] = {view.tool_name: view for view in _VIEWS}
if set(VIEWS) != set(TOOL_NAMES) or len(VIEWS) != len(_VIEWS):
    # A tool in the table without a view (or a view for no tool) would be a 404 the worker's model
    # meets mid-call; refuse to start instead.
    raise RuntimeError(f"voice tool views {sorted(VIEWS)} do not match the tool table {sorted(TOOL_NAMES)}")


@extend_schema(exclude=True)
class UnknownToolView(CallTokenView):
    def post(self, request, action: str):
        names = ", ".join(TOOL_NAMES)
        raise DomainError("unknown_tool", f"There is no tool called {action[:50]!r}. The tools are: {names}.")
