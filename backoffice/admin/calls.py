"""The tenant admin for what the phone line produced: calls (a list and a page per call with the
transcript as a conversation), the callback queue, and the SMS log.

Calls, their transcripts, tool calls and notes and the SMS log came from the phone and are read-only.
The callback queue is the business's to work: one click marks a request done, recording who did it.
"""
from __future__ import annotations

import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator

from backoffice.dashboard import call_detail, calls_with_results
from backoffice.helpers import (
    DateHierarchyInReachMixin,
    PhoneDataReadOnlyMixin,
    csv_export_action,
    duration_text,
    local_time_text,
    phone_text,
)
from backoffice.sites import tenant_admin_site
from calls.callback_dialing import do_not_call_add, number_is_opted_out
from calls.callbacks import callback_request_mark_done, callback_request_reopen
from calls.models import Call, CallbackRequest, CallRecording
from calls.recordings import recording_delete, recording_signed_url
from calls.summaries.services import summaries_configured
from core.errors import DomainError
from messaging.models import SmsMessage, SmsOptOut, SmsReply
from tenants.agent.selectors import business_capabilities


class ResultFilter(admin.SimpleListFilter):
    title = "result"
    parameter_name = "result"

    def lookups(self, request, model_admin):
        capabilities = business_capabilities()
        return [*([("booking", "Made a booking")] if capabilities.takes_bookings else []),
                *([("order", "Placed an order")] if capabilities.takes_orders else []),
                ("callback", "Queued a callback"), ("none", "No booking or order")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "booking":
            return queryset.filter(made_booking=True)
        if value == "order":
            return queryset.filter(made_order=True)
        if value == "callback":
            return queryset.filter(callback_requests__isnull=False).distinct()
        if value == "none":
            return queryset.filter(made_booking=False, made_order=False)
        return queryset


class OutcomeFilter(admin.SimpleListFilter):
    """The call outcomes, without "Booked" for a business that takes no bookings or "Ordered" for
    one that takes no orders."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        capabilities = business_capabilities()
        unused = {Call.Outcome.BOOKED: capabilities.takes_bookings, Call.Outcome.ORDERED: capabilities.takes_orders}
        return [(value, label) for value, label in Call.Outcome.choices if unused.get(value, True)]

    def queryset(self, request, queryset):
        return queryset.filter(outcome=self.value()) if self.value() else queryset


class DurationFilter(admin.SimpleListFilter):
    title = "length"
    parameter_name = "length"

    def lookups(self, request, model_admin):
        return [("short", "Under 1 minute"), ("medium", "1–5 minutes"), ("long", "Over 5 minutes")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "short":
            return queryset.filter(duration_seconds__lt=60)
        if value == "medium":
            return queryset.filter(duration_seconds__gte=60, duration_seconds__lte=300)
        if value == "long":
            return queryset.filter(duration_seconds__gt=300)
        return queryset


@admin.register(Call, site=tenant_admin_site)
class CallAdmin(DateHierarchyInReachMixin, PhoneDataReadOnlyMixin, admin.ModelAdmin):
    change_form_template = "admin/soniq/call_change_form.html"
    list_display = ["when", "caller", "duration", "outcome_badge", "result"]
    actions = [csv_export_action(name="calls", columns=[
        ("Started", lambda call: call.started_at), ("Caller", lambda call: call.caller_number),
        ("Number called", lambda call: call.called_number), ("Seconds", lambda call: call.duration_seconds),
        ("Outcome", lambda call: call.get_outcome_display()), ("End reason", lambda call: call.end_reason),
        ("Transferred to", lambda call: call.transferred_to),
    ])]
    list_display_links = ["when", "caller"]
    list_filter = [OutcomeFilter, ResultFilter, DurationFilter, ("started_at", admin.DateFieldListFilter), "status", "is_test"]
    search_fields = ["caller_number", "turns__text", "notes__text", "end_reason"]
    search_help_text = "Search by caller number or by words said in the call."
    date_hierarchy = "started_at"
    list_per_page = 50
    fields = ["started_at", "ended_at", "caller_number", "called_number", "status", "outcome", "end_reason"]

    def get_queryset(self, request):
        return calls_with_results()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Calls", **(extra_context or {})})

    @admin.display(description="Time", ordering="started_at")
    def when(self, call):
        return local_time_text(call.started_at)

    @admin.display(description="Caller", ordering="caller_number")
    def caller(self, call):
        if call.is_test:
            # The owner trying their agent (core/trial_calls.py): marked, so nobody calls it back.
            return format_html('{} <span class="soniq-badge" data-testid="test-call">test</span>',
                               phone_text(call.caller_number) or "Browser")
        return phone_text(call.caller_number) or "Withheld"

    @admin.display(description="Duration", ordering="duration_seconds")
    def duration(self, call):
        if call.status == Call.Status.ACTIVE:
            return "in progress"
        return duration_text(call.duration_seconds)

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_badge(self, call):
        if not call.outcome:
            label = "In progress" if call.status == Call.Status.ACTIVE else "—"
            return format_html('<span class="soniq-badge">{}</span>', label)
        return format_html('<span class="soniq-badge soniq-{}">{}</span>', call.outcome, call.get_outcome_display())

    @admin.display(description="Booking / order")
    def result(self, call):
        made = []
        if getattr(call, "made_booking", False):
            made.append("Booking")
        if getattr(call, "made_order", False):
            made.append("Order")
        return ", ".join(made) or "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        call = self.get_object(request, object_id)
        context = {**(extra_context or {})}
        if call is not None:
            context["detail"] = call_detail(call=call)
            context["title"] = f"Call from {phone_text(call.caller_number) or 'a withheld number'}"
            context["subtitle"] = local_time_text(call.started_at)
            context["summaries_on"] = summaries_configured()
            recording = CallRecording.objects.filter(call=call).first()
            if recording is not None:
                context["recording"] = recording
                context["can_listen"] = request.user.has_perm(LISTEN_PERMISSION)
                context["can_delete_recording"] = request.user.has_perm(DELETE_RECORDING_PERMISSION)
        return super().change_view(request, object_id, form_url, context)

    # --- the recording: listening and deleting ------------------------------------------------

    def get_urls(self):
        return [
            path("<uuid:call_id>/recording/", self.admin_site.admin_view(self.recording_audio_view),
                 name="calls_call_recording"),
            path("<uuid:call_id>/recording/delete/", self.admin_site.admin_view(self.recording_delete_view),
                 name="calls_call_recording_delete"),
            *super().get_urls(),
        ]

    def _recording_or_404(self, request, call_id) -> CallRecording:
        # Only this tenant's schema is searched: another business's call id is simply not found here.
        if not self.has_view_permission(request):
            raise PermissionDenied
        recording = CallRecording.objects.filter(call_id=call_id).first()
        if recording is None:
            raise Http404("This call has no recording.")
        return recording

    def recording_audio_view(self, request, call_id):
        """The audio, to the owner and to staff allowed to listen: streamed from the filesystem
        (with byte ranges, so the player can seek), or a redirect to a signed URL of a few minutes."""
        recording = self._recording_or_404(request, call_id)
        if not request.user.has_perm(LISTEN_PERMISSION):
            raise PermissionDenied
        signed = recording_signed_url(recording=recording)
        if signed:
            response = HttpResponseRedirect(signed)
        else:
            response = ranged_file_response(request, recording.audio.open("rb"), size=recording.size_bytes,
                                            content_type="audio/ogg")
        response["Cache-Control"] = "private, no-store"
        return response

    def recording_delete_view(self, request, call_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        recording = self._recording_or_404(request, call_id)
        if not request.user.has_perm(DELETE_RECORDING_PERMISSION):
            raise PermissionDenied
        recording_delete(recording=recording)
        messages.success(request, "The recording was deleted. The transcript is kept.")
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call_id]))


LISTEN_PERMISSION = "calls.listen_callrecording"
DELETE_RECORDING_PERMISSION = "calls.delete_callrecording"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def ranged_file_response(request, handle, *, size: int, content_type: str):
    """The file, or the byte range the browser asked for (206): an <audio> element seeks with them."""
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or not (match.group(1) or match.group(2)):
        response = FileResponse(handle, content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        response["Content-Length"] = str(size)
        return response
    first, last = match.group(1), match.group(2)
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with handle:
        handle.seek(start)
        body = handle.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


class QueueStatusFilter(admin.SimpleListFilter):
    """Open requests by default: the queue is what still needs doing."""

    title = "status"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("done", "Done"), ("all", "All")]

    def value(self):
        return super().value() or "open"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() in (CallbackRequest.Status.OPEN, CallbackRequest.Status.DONE):
            return queryset.filter(status=self.value())
        return queryset


def _safe_next(request, fallback: str) -> str:
    next_url = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
    if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
        return next_url
    return fallback


@admin.register(CallbackRequest, site=tenant_admin_site)
class CallbackRequestAdmin(PhoneDataReadOnlyMixin, admin.ModelAdmin):
    change_form_template = "admin/soniq/callback_change_form.html"
    list_display = ["waiting_since", "caller", "caller_name", "short_reason", "from_call", "status_badge",
                    "handled", "mark_done_button"]
    list_display_links = ["waiting_since", "caller"]
    list_filter = [QueueStatusFilter]
    search_fields = ["caller_number", "caller_name", "reason", "handled_by"]
    actions = ["mark_done", csv_export_action(name="callbacks", columns=[
        ("Waiting since", lambda callback: callback.created), ("Caller", lambda callback: callback.caller_number),
        ("Name", lambda callback: callback.caller_name), ("Reason", lambda callback: callback.reason),
        ("Status", lambda callback: callback.get_status_display()), ("Handled by", lambda callback: callback.handled_by),
        ("Done at", lambda callback: callback.done_at),
    ])]
    ordering = ["created"]
    fields = ["caller_number", "caller_name", "reason", "status", "created", "handled_by", "done_at", "call_link",
              "next_try"]
    readonly_fields = fields

    # Read-only (the mixin): the request itself is what the caller said; working it is the buttons' job.

    def get_urls(self):
        return [
            path("<int:callback_id>/done/", self.admin_site.admin_view(self.mark_done_view),
                 name="calls_callbackrequest_done"),
            path("<int:callback_id>/reopen/", self.admin_site.admin_view(self.reopen_view),
                 name="calls_callbackrequest_reopen"),
            path("<int:callback_id>/do-not-call/", self.admin_site.admin_view(self.do_not_call_view),
                 name="calls_callbackrequest_do_not_call"),
            *super().get_urls(),
        ]

    @admin.display(description="Requested", ordering="created")
    def waiting_since(self, callback_request):
        return local_time_text(callback_request.created)

    @admin.display(description="Caller", ordering="caller_number")
    def caller(self, callback_request):
        return phone_text(callback_request.caller_number)

    @admin.display(description="Reason")
    def short_reason(self, callback_request):
        return Truncator(callback_request.reason).chars(90)

    @admin.display(description="Call")
    def from_call(self, callback_request):
        if callback_request.call_id is None:
            return "—"
        url = reverse(f"{self.admin_site.name}:calls_call_change", args=[callback_request.call_id])
        return format_html('<a href="{}">Listen back</a>', url)

    @admin.display(description="Call")
    def call_link(self, callback_request):
        return self.from_call(callback_request)

    @admin.display(description="Agent's next try")
    def next_try(self, callback_request):
        # Shown whatever the business's setting: the owner sees when a try was promised or scheduled.
        if callback_request.status != CallbackRequest.Status.OPEN or callback_request.call_after is None:
            return "—"
        return f"Not before {local_time_text(callback_request.call_after)}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, callback_request):
        return format_html('<span class="soniq-badge soniq-cb-{}">{}</span>', callback_request.status,
                           callback_request.get_status_display())

    @admin.display(description="Handled")
    def handled(self, callback_request):
        if callback_request.status != CallbackRequest.Status.DONE:
            return "—"
        return f"{callback_request.handled_by or 'someone'}, {local_time_text(callback_request.done_at)}"

    @admin.display(description="")
    def mark_done_button(self, callback_request):
        if callback_request.status == CallbackRequest.Status.DONE:
            return ""
        url = reverse(f"{self.admin_site.name}:calls_callbackrequest_done", args=[callback_request.pk])
        # Posts the changelist's own form (with its CSRF token): one click, no nested form.
        return format_html('<button type="submit" class="button soniq-step" formaction="{}">Mark done</button>', url)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Callback queue", **(extra_context or {})})

    def _handler_name(self, request) -> str:
        user = request.user
        return user.get_full_name() or user.get_username()

    def _check_can_work_queue(self, request):
        if not request.user.has_perm("calls.change_callbackrequest"):
            raise PermissionDenied

    def mark_done_view(self, request, callback_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._check_can_work_queue(request)
        try:
            callback_request = callback_request_mark_done(callback_request_id=callback_id,
                                                          handled_by=self._handler_name(request))
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"Marked done: call back {phone_text(callback_request.caller_number)}.",
                              messages.SUCCESS)
        return HttpResponseRedirect(_safe_next(request, reverse(f"{self.admin_site.name}:calls_callbackrequest_changelist")))

    def reopen_view(self, request, callback_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._check_can_work_queue(request)
        try:
            callback_request = callback_request_reopen(callback_request_id=callback_id)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"Back in the queue: call back {phone_text(callback_request.caller_number)}.",
                              messages.SUCCESS)
        return HttpResponseRedirect(_safe_next(request, reverse(f"{self.admin_site.name}:calls_callbackrequest_changelist")))

    def do_not_call_view(self, request, callback_id: int):
        """The customer asked not to be called: the agent never dials the number again, and its open
        callbacks are closed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._check_can_work_queue(request)
        callback_request = CallbackRequest.objects.filter(pk=callback_id).first()
        if callback_request is None:
            self.message_user(request, f"Callback request #{callback_id} does not exist.", messages.ERROR)
        else:
            do_not_call_add(number=callback_request.caller_number, noted_by=self._handler_name(request),
                            call=callback_request.call)
            self.message_user(request, f"{phone_text(callback_request.caller_number)} will not be called again.",
                              messages.SUCCESS)
        return HttpResponseRedirect(_safe_next(request, reverse(f"{self.admin_site.name}:calls_callbackrequest_changelist")))

    @admin.action(description="Mark selected callbacks as done")
    def mark_done(self, request, queryset):
        self._check_can_work_queue(request)
        handled_by = self._handler_name(request)
        count = 0
        for callback_request in queryset.filter(status=CallbackRequest.Status.OPEN):
            callback_request_mark_done(callback_request_id=callback_request.pk, handled_by=handled_by)
            count += 1
        self.message_user(request, f"Marked {count} callback{'s' if count != 1 else ''} done.", messages.SUCCESS)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        callback_request = self.get_object(request, object_id)
        attempts = list(callback_request.attempts.select_related("call")) if callback_request else []
        context = {"callback_request": callback_request, "attempts": attempts,
                   "do_not_call": callback_request is not None and number_is_opted_out(
                       number=callback_request.caller_number),
                   "can_work_queue": request.user.has_perm("calls.change_callbackrequest"), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)


@admin.register(SmsMessage, site=tenant_admin_site)
class SmsMessageAdmin(PhoneDataReadOnlyMixin, admin.ModelAdmin):
    list_display = ["sent", "to", "kind", "short_body", "status_badge", "about"]
    list_filter = ["status", "kind", ("created", admin.DateFieldListFilter)]
    search_fields = ["to_number", "body", "provider_id"]
    list_select_related = ["booking", "order", "call"]
    fields = ["kind", "to_number", "from_number", "body", "status", "error", "attempts", "provider_id", "booking",
              "order", "call", "created", "updated"]

    @admin.display(description="Created", ordering="created")
    def sent(self, sms):
        return local_time_text(sms.created)

    @admin.display(description="To", ordering="to_number")
    def to(self, sms):
        return phone_text(sms.to_number)

    @admin.display(description="Message")
    def short_body(self, sms):
        return Truncator(sms.body).chars(100)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, sms):
        title = sms.error or ""
        return format_html('<span class="soniq-badge soniq-sms-{}" title="{}">{}</span>', sms.status, title,
                           sms.get_status_display())

    @admin.display(description="About")
    def about(self, sms):
        site = self.admin_site.name
        if sms.booking_id:
            return format_html('<a href="{}">Booking</a>', reverse(f"{site}:bookings_booking_change", args=[sms.booking_id]))
        if sms.order_id:
            return format_html('<a href="{}">Order #{}</a>', reverse(f"{site}:orders_order_change", args=[sms.order_id]),
                               sms.order_id)
        if sms.call_id:
            return format_html('<a href="{}">Call</a>', reverse(f"{site}:calls_call_change", args=[sms.call_id]))
        return "—"


@admin.register(SmsReply, site=tenant_admin_site)
class SmsReplyAdmin(admin.ModelAdmin):
    """Texts customers sent back ("Reply or call us to change it"): staff read them here (and are
    notified), answer them themselves, and tick them handled."""

    list_display = ["received", "sender", "body", "handled"]
    list_editable = ["handled"]
    list_filter = ["handled"]
    search_fields = ["from_number", "body"]
    fields = ["received_at", "from_number", "to_number", "body", "handled"]
    readonly_fields = ["received_at", "from_number", "to_number", "body"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Received", ordering="received_at")
    def received(self, reply):
        return local_time_text(reply.received_at)

    @admin.display(description="From", ordering="from_number")
    def sender(self, reply):
        return phone_text(reply.from_number)


@admin.register(SmsOptOut, site=tenant_admin_site)
class SmsOptOutAdmin(PhoneDataReadOnlyMixin, admin.ModelAdmin):
    """Numbers that texted STOP: the business's texts skip them until they text START."""

    list_display = ["number", "opted_out", "changed_at"]
    list_filter = ["opted_out"]
    search_fields = ["number"]
