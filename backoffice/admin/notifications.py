"""The tenant admin for notifications: who gets which, and the log of every email and staff SMS
(a message that failed for good shows here, with the reason)."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from backoffice.helpers import PhoneDataReadOnlyMixin, SingleRowAdminMixin, local_time_text
from backoffice.sites import tenant_admin_site
from notifications.forms import NotificationSettingsForm
from notifications.models import Notification, NotificationSettings


@admin.register(NotificationSettings, site=tenant_admin_site)
class NotificationSettingsAdmin(SingleRowAdminMixin, admin.ModelAdmin):
    form = NotificationSettingsForm


@admin.register(Notification, site=tenant_admin_site)
class NotificationAdmin(PhoneDataReadOnlyMixin, admin.ModelAdmin):
    list_display = ["when", "channel", "recipient", "what", "status_badge", "attempts"]
    list_filter = ["status", "channel", "event", ("created", admin.DateFieldListFilter)]
    search_fields = ["recipient", "subject", "body"]
    fields = ["event", "channel", "recipient", "subject", "body", "status", "error", "attempts", "not_before", "created", "sent_at"]

    @admin.display(description="Created", ordering="created")
    def when(self, notification):
        return local_time_text(notification.created)

    @admin.display(description="Message")
    def what(self, notification):
        return Truncator(notification.subject or notification.body).chars(100)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, notification):
        return format_html('<span class="soniq-badge soniq-sms-{}" title="{}">{}</span>', notification.status,
                           notification.error, notification.get_status_display())
