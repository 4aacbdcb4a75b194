"""The tenant admin for webhooks: endpoints (URL, secret, events) and every delivery (status,
attempts, last response), with "Send again"."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from backoffice.helpers import local_time_text
from backoffice.sites import tenant_admin_site
from webhooks.addresses import EndpointRefused
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import webhook_endpoint_check, webhook_resend


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="https:// only.")
    events = forms.MultipleChoiceField(required=False, choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text="Tick none to receive every event type.")

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "secret", "events", "active"]

    def clean_url(self) -> str:
        # https only, no user:password@, no private or loopback address, at most WEBHOOK_ENDPOINTS_MAX
        # endpoints: the same check as the spec's (webhooks.services.webhook_endpoint_check).
        try:
            return webhook_endpoint_check(url=self.cleaned_data["url"], endpoint=self.instance)
        except EndpointRefused as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"].strip()
        if not secret.startswith("whsec_") or len(secret) < 30:
            raise forms.ValidationError("The secret must be a whsec_… value (leave the generated one if unsure).")
        return secret


@admin.register(WebhookEndpoint, site=tenant_admin_site)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "event_list", "active"]

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
