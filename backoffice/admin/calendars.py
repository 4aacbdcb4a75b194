"""The tenant admin for calendar sync: connect a Google calendar (OAuth) or a CalDAV calendar (server,
username, app password, then one of the calendars found there), for one service or the whole
business; each calendar's sync state; disconnect; and the conflicts the owner resolves (events the
business deleted in its calendar while the booking stands).

Also the two doors on the public host that Google uses: the OAuth redirect relay (one redirect URI
registered with Google for every tenant) and the push-notification receiver."""
from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import get_tenant_model, tenant_context

from backoffice.helpers import local_time_text
from backoffice.sites import tenant_admin_site
from bookings.models import Service
from calendars import services as calendar_services
from calendars.crypto import SecretUnreadable, secret_open, secret_seal
from calendars.models import CalendarConnection, CalendarEvent
from calendars.providers import ProviderError, caldav_discover
from calendars.tasks import calendar_sync_task

Blocks = CalendarConnection.Blocks


class _CoverForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.filter(active=True), required=False,
                                     empty_label="The whole business",
                                     help_text="Whose availability the calendar's events block, and whose bookings it shows.")
    blocks = forms.ChoiceField(choices=Blocks.choices, initial=Blocks.ALL_PLACES, label="An event in it takes")


class CaldavConnectForm(_CoverForm):
    server_url = forms.URLField(max_length=500, assume_scheme="https", label="Server address",
                                help_text="e.g. https://caldav.fastmail.com/ or https://cloud.example.com/remote.php/dav/")
    username = forms.CharField(max_length=200)
    password = forms.CharField(max_length=500, required=False, widget=forms.PasswordInput, label="App password",
                               help_text="An app-specific password, not your account's main one.")
    # After discovery: the password, sealed with the calendar key, so the owner need not type it again.
    sealed_password = forms.CharField(required=False, widget=forms.HiddenInput)
    calendar_url = forms.ChoiceField(required=False, label="Calendar", widget=forms.RadioSelect)

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password") or ""
        if not password and cleaned.get("sealed_password"):
            try:
                password = secret_open(cleaned["sealed_password"])
            except SecretUnreadable:
                password = ""
        if not password:
            self.add_error("password", "Enter the app password.")
        cleaned["password"] = password
        return cleaned


class GoogleConnectForm(_CoverForm):
    calendar_id = forms.CharField(max_length=300, initial="primary", label="Calendar ID",
                                  help_text="'primary' is the account's own calendar; others have an address as ID "
                                            "(Google Calendar → Settings → Integrate calendar).")


@admin.register(CalendarConnection, site=tenant_admin_site)
class CalendarConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "covers", "status_badge", "last_success", "last_error_short", "conflicts"]
    list_filter = ["status", "provider"]
    change_form_template = "admin/soniq/calendar_change_form.html"
    readonly_fields = ["name", "provider", "covers", "blocks", "status", "calendar_id", "caldav_url", "caldav_username",
                       "busy_read", "last_success", "last_error", "last_error_at_text", "push_channel", "conflicts",
                       "created"]
    fields = readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # Disconnect instead: it stops the channel and revokes the access.

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("service")

    @admin.display(description="For")
    def covers(self, connection):
        return connection.service.name if connection.service_id else "The whole business"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, connection):
        tone = {"connected": "confirmed", "pending": "new"}.get(connection.status, "cancelled")
        if connection.status == "connected" and connection.failing_since:
            return format_html('<span class="soniq-badge soniq-cancelled">Failing since {}</span>',
                               local_time_text(connection.failing_since))
        return format_html('<span class="soniq-badge soniq-{}">{}</span>', tone, connection.get_status_display())

    @admin.display(description="Last success")
    def last_success(self, connection):
        return local_time_text(connection.last_success_at) if connection.last_success_at else "never"

    @admin.display(description="Busy times read")
    def busy_read(self, connection):
        if not connection.busy_synced_at:
            return "never"
        return f"{local_time_text(connection.busy_synced_at)} ({connection.busy_times.count()} busy times ahead)"

    @admin.display(description="Last error")
    def last_error_short(self, connection):
        return (connection.last_error[:80] or "—") if connection.failing_since else "—"

    @admin.display(description="Last error at")
    def last_error_at_text(self, connection):
        return local_time_text(connection.last_error_at) if connection.last_error_at else "—"

    @admin.display(description="Push notifications")
    def push_channel(self, connection):
        if connection.provider != CalendarConnection.Provider.GOOGLE:
            return "— (CalDAV: read every few minutes and during calls)"
        if connection.channel_id and connection.channel_expires_at:
            return f"on, renewed before {local_time_text(connection.channel_expires_at)}"
        return "off (read every few minutes and during calls)"

    @admin.display(description="Conflicts")
    def conflicts(self, connection):
        count = connection.events.filter(state=CalendarEvent.State.CONFLICT).count()
        if not count:
            return "none"
        url = reverse(f"{self.admin_site.name}:calendars_calendarevent_changelist") + f"?state=conflict&connection__id__exact={connection.pk}"
        return format_html('<a href="{}">{} booking(s) deleted in the calendar</a>', url, count)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("connect/caldav/", view(self.caldav_connect_view), name="calendars_connect_caldav"),
            path("connect/google/", view(self.google_connect_view), name="calendars_connect_google"),
            path("google/callback/", view(self.google_callback_view), name="calendars_google_callback"),
            path("<int:connection_id>/disconnect/", view(self.disconnect_view), name="calendars_disconnect"),
            path("<int:connection_id>/sync/", view(self.sync_view), name="calendars_sync_now"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._render(request, "admin/soniq/calendar_connect.html", "Connect a calendar", {
            "google_available": bool(settings.CALENDAR_PUBLIC_URL and settings.GOOGLE_OAUTH_CLIENT_ID),
        })

    def _render(self, request, template: str, title: str, context: dict):
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": title, "subtitle": None,
            "changelist_url": reverse(f"{self.admin_site.name}:calendars_calendarconnection_changelist"), **context})

    def caldav_connect_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CaldavConnectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and request.POST.get("calendar_url"):
            # The pick from the calendars found; checked against a fresh discovery below.
            form.fields["calendar_url"].choices = [(request.POST["calendar_url"], request.POST["calendar_url"])]
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                found = caldav_discover(url=data["server_url"], username=data["username"], password=data["password"],
                                        timeout=settings.CALENDAR_HTTP_TIMEOUT_SECONDS)
            except ProviderError as error:
                form.add_error(None, f"Nothing was connected: {error}")
            else:
                chosen = data.get("calendar_url")
                by_url = dict((url, name) for name, url in found)
                if not found:
                    form.add_error(None, "That account has no calendars on this server; nothing was connected.")
                elif chosen in by_url or len(found) == 1:
                    url = chosen if chosen in by_url else found[0][1]
                    connection = calendar_services.calendar_caldav_connect(
                        service=data["service"], name=by_url[url], server_url=data["server_url"],
                        username=data["username"], password=data["password"], calendar_url=url, blocks=data["blocks"])
                    self.log_addition(request, connection, [{"added": {}}])
                    self.message_user(request, f"Connected {connection.name}. Its busy times are being read now; "
                                               "new bookings will appear in it.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_change",
                                                        args=[connection.pk]))
                else:
                    # Several calendars: the owner picks one; the password comes back sealed.
                    form = CaldavConnectForm(initial={**{key: data[key] for key in ("server_url", "username", "blocks")},
                                                      "service": data["service"],
                                                      "sealed_password": secret_seal(data["password"])})
                    form.fields["calendar_url"].choices = [(url, name) for name, url in found]
                    form.fields["calendar_url"].required = True
                    form.fields["password"].help_text = "Already checked; leave empty."
                    messages.info(request, f"Found {len(found)} calendars: pick the one to connect.")
        return self._render(request, "admin/soniq/calendar_connect_form.html", "Connect a CalDAV calendar",
                            {"form": form, "submit": "Connect"})

    def google_connect_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        if not (settings.CALENDAR_PUBLIC_URL and settings.GOOGLE_OAUTH_CLIENT_ID):
            self.message_user(request, "Google Calendar is not set up on this Soniq (GOOGLE_OAUTH_CLIENT_ID, "
                                       "CALENDAR_PUBLIC_URL).", messages.ERROR)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_add"))
        form = GoogleConnectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            _connection, url = calendar_services.calendar_google_start(
                service=data["service"], calendar_id=data["calendar_id"].strip(), blocks=data["blocks"],
                domain=request.get_host())
            return HttpResponseRedirect(url)
        return self._render(request, "admin/soniq/calendar_connect_form.html", "Connect a Google calendar",
                            {"form": form, "submit": "Continue to Google"})

    def google_callback_view(self, request):
        """Where the relay sends the owner back, on their own domain and session."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            connection = calendar_services.calendar_google_finish(
                state=request.GET.get("state", ""), code=request.GET.get("code", ""), error=request.GET.get("error", ""))
        except calendar_services.OAuthRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_changelist"))
        self.log_addition(request, connection, [{"added": {}}])
        self.message_user(request, f"Connected {connection.name}. Its busy times are being read now; new bookings will "
                                   "appear in it.", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_change",
                                            args=[connection.pk]))

    def _posted_connection(self, request, connection_id: int) -> CalendarConnection:
        if request.method != "POST":
            raise PermissionDenied
        connection = CalendarConnection.objects.filter(pk=connection_id).first()
        if connection is None or not self.has_change_permission(request, connection):
            raise PermissionDenied
        return connection

    def disconnect_view(self, request, connection_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        connection = self._posted_connection(request, connection_id)
        if connection.status == CalendarConnection.Status.DISCONNECTED:
            self.message_user(request, f"{connection.name} was already disconnected.", messages.INFO)
        else:
            self.message_user(request, calendar_services.calendar_disconnect(connection=connection), messages.SUCCESS)
            self.log_change(request, connection, "Disconnected")
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_change",
                                            args=[connection.pk]))

    def sync_view(self, request, connection_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        connection = self._posted_connection(request, connection_id)
        if connection.status != CalendarConnection.Status.CONNECTED:
            self.message_user(request, f"{connection.name} is not connected.", messages.WARNING)
        else:
            calendar_sync_task.delay(connection.pk)
            self.message_user(request, f"{connection.name} is being synced; refresh in a moment.", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:calendars_calendarconnection_change",
                                            args=[connection.pk]))


@admin.register(CalendarEvent, site=tenant_admin_site)
class CalendarEventAdmin(admin.ModelAdmin):
    """Each booking's event in each calendar; conflicts (deleted in the calendar, booking confirmed)
    are the owner's to resolve: put the event back, or leave it out (and cancel the booking in
    Bookings if it is really off)."""

    list_display = ["summary", "when", "connection", "state_badge", "booking_link", "last_error"]
    list_filter = ["state", "connection"]
    list_select_related = ["connection"]
    actions = ["put_back", "leave_out"]
    readonly_fields = ["summary", "when", "connection", "state", "booking_link", "description", "pushed_at", "attempts",
                       "last_error", "conflict_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="When", ordering="start")
    def when(self, event):
        return local_time_text(event.start)

    @admin.display(description="State", ordering="state")
    def state_badge(self, event):
        tone = {"synced": "confirmed", "pending": "new", "conflict": "cancelled"}.get(event.state, "quiet")
        return format_html('<span class="soniq-badge soniq-{}">{}</span>', tone, event.get_state_display())

    @admin.display(description="Booking")
    def booking_link(self, event):
        url = reverse(f"{self.admin_site.name}:bookings_booking_change", args=[event.booking_id])
        return format_html('<a href="{}">Booking {}</a>', url, event.booking_id)

    @admin.action(description="Put the event back in the calendar (the booking stands)", permissions=["change"])
    def put_back(self, request, queryset):
        conflicts = list(queryset.filter(state__in=[CalendarEvent.State.CONFLICT, CalendarEvent.State.DISMISSED]))
        for event in conflicts:
            calendar_services.calendar_event_put_back(event=event)
        self.message_user(request, f"{len(conflicts)} event(s) will be written back to the calendar.", messages.SUCCESS)

    @admin.action(description="Leave out of the calendar (the booking stands)", permissions=["change"])
    def leave_out(self, request, queryset):
        conflicts = list(queryset.filter(state=CalendarEvent.State.CONFLICT))
        for event in conflicts:
            calendar_services.calendar_event_dismiss(event=event)
        self.message_user(request, f"{len(conflicts)} conflict(s) resolved; those bookings stay out of the calendar.",
                          messages.SUCCESS)


# --- Google's doors on the public host ---------------------------------------------------------------------

def google_oauth_relay(request):
    """GOOGLE's single registered redirect URI: forward the owner, code and all, to the tenant domain
    the signed `state` names (never anywhere else), where their admin session finishes the connection."""
    state = request.GET.get("state", "")
    domain = calendar_services.google_state_domain(state)
    if domain is None:
        return HttpResponseBadRequest("This Google sign-in link is not valid or has expired. Start again in your admin.",
                                      content_type="text/plain")
    query = urlencode({key: request.GET[key] for key in ("state", "code", "error") if key in request.GET})
    return HttpResponseRedirect(f"{settings.SITE_SCHEME}://{domain}/admin/calendars/calendarconnection/google/callback/?{query}")


@csrf_exempt
def google_push_notify(request):
    """A Google Calendar push notification (a POST with X-Goog-* headers and no body): the channel
    token we signed names the tenant and calendar; the calendar is then synced by a task. Always
    answers quickly (Google retries slow receivers); an unknown channel gets 404, so Google stops it."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    channel_id = request.headers.get("X-Goog-Channel-ID", "")
    claims = calendar_services.calendar_push_verify(token=request.headers.get("X-Goog-Channel-Token", ""),
                                                    channel_id=channel_id)
    if claims is None:
        return HttpResponse(status=404)
    schema, connection_id = claims
    tenant = get_tenant_model().objects.filter(schema_name=schema).first()
    if tenant is None:
        return HttpResponse(status=404)
    with tenant_context(tenant):
        live = calendar_services.calendar_push_received(connection_id=connection_id, channel_id=channel_id)
    return HttpResponse(status=200 if live else 404)
