"""The tenant admin for webhooks: endpoints (URL, secret, events) and every delivery (status,
attempts, last response), with "Send again"."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from backoffice.helpers import local_time_text
from backoffice.sites import tenant_admin_site
from webhooks.addresses import EndpointRefused
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, webhook_secret_new
from webhooks.services import webhook_endpoint_check, webhook_resend, webhook_test_send

# What each event means, for the owner choosing them (the names are what the receiver sees as `type`).
WEBHOOK_EVENT_DESCRIPTIONS = {
    WebhookEvent.CALL_ENDED: "a call ended (caller, length, outcome, summary)",
    WebhookEvent.BOOKING_CREATED: "a booking was made, by the agent or by staff",
    WebhookEvent.BOOKING_RESCHEDULED: "a booking moved to another time",
    WebhookEvent.BOOKING_CANCELLED: "a booking was cancelled, by the caller or by the business",
    WebhookEvent.ORDER_CREATED: "an order was placed on the phone (lines, total, pickup or delivery)",
    WebhookEvent.CALLBACK_CREATED: "a caller asked to be called back",
}


def _masked(secret: str) -> str:
    return f"{secret[:10]}…{secret[-4:]}" if secret else "—"


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="https:// only.")
    events = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="Tick none to receive every event type.",
        choices=[(value, f"{value}: {WEBHOOK_EVENT_DESCRIPTIONS.get(value, label)}") for value, label in WebhookEvent.choices])
    new_secret = forms.BooleanField(required=False, label="Make a new signing secret",
                                    help_text="The old one stops working at once; the new one is shown once.")

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            del self.fields["new_secret"]  # a new endpoint gets a secret, shown once after saving
        self.secret_shown = ""

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if endpoint.pk is None or self.cleaned_data.get("new_secret"):
            endpoint.secret = webhook_secret_new()
            self.secret_shown = endpoint.secret
        if commit:
            endpoint.save()
        return endpoint

    def clean_url(self) -> str:
        # https only, no user:password@, no private or loopback address, at most WEBHOOK_ENDPOINTS_MAX
        # endpoints: the same check as the spec's (webhooks.services.webhook_endpoint_check).
        try:
            return webhook_endpoint_check(url=self.cleaned_data["url"], endpoint=self.instance)
        except EndpointRefused as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(WebhookEndpoint, site=tenant_admin_site)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The signing secret is shown once, when it is made (a new endpoint, or "Make a new signing
    secret"); afterwards only its ends, so a screen share or a shoulder never leaks it."""

    form = WebhookEndpointForm
    list_display = ["url", "event_list", "active"]
    readonly_fields = ["signing_secret"]
    actions = ["send_test_event"]

    def get_fields(self, request, obj=None):
        return ["url", "events", "active", "signing_secret", "new_secret"] if obj else ["url", "events", "active"]

    @admin.display(description="Signing secret")
    def signing_secret(self, endpoint):
        return _masked(endpoint.secret)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.secret_shown:
            self.message_user(request, f"Signing secret (shown this once; copy it into your receiver now): "
                                       f"{form.secret_shown}", messages.WARNING)

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            webhook_test_send(endpoint=endpoint)
        self.message_user(request, f"Sent a webhook.test event to {queryset.count()} endpoint(s); see Webhook "
                                   "deliveries for the answer.", messages.SUCCESS)

    @admin.display(description="Events")
    def event_list(self, endpoint):
        return ", ".join(endpoint.events) or "All"


@admin.register(WebhookDelivery, site=tenant_admin_site)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["when", "event_type", "endpoint", "status_badge", "attempts", "last_status_code", "next_attempt"]
    list_filter = ["status", "event_type", ("created", admin.DateFieldListFilter)]
    list_select_related = ["endpoint"]
    search_fields = ["message_id", "event_key"]
    actions = ["send_again"]
    readonly_fields = ["endpoint", "event_type", "message_id", "payload", "status", "attempts", "last_status_code",
                       "last_response", "last_error", "first_attempt_at", "next_attempt_at", "delivered_at", "created"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Created", ordering="created")
    def when(self, delivery):
        return local_time_text(delivery.created)

    @admin.display(description="Next attempt")
    def next_attempt(self, delivery):
        return local_time_text(delivery.next_attempt_at) if delivery.next_attempt_at else "—"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, delivery):
        return format_html('<span class="soniq-badge soniq-sms-{}" title="{}">{}</span>', delivery.status,
                           delivery.last_error, delivery.get_status_display())

    @admin.action(description="Send again (same webhook-id)", permissions=["change"])
    def send_again(self, request, queryset):
        for delivery in queryset:
            webhook_resend(delivery=delivery)
        self.message_user(request, f"{queryset.count()} delivery(ies) queued again.", messages.SUCCESS)
