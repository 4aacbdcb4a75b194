"""The business's own calendars: a connection per calendar (Google or CalDAV, for one service or the
whole business), the mirror of its busy times, and the event each booking became in it.

Services and bookings are referred to by string ("bookings.Service"): calendars sit under bookings
in the layers, so they hold foreign keys to them (schema) but never import them (code)."""
from django.db import models
from django.db.models import Q


class CalendarConnection(models.Model):
    class Provider(models.TextChoices):
        GOOGLE = "google", "Google Calendar"
        CALDAV = "caldav", "CalDAV (Apple, Fastmail, Nextcloud, …)"

    class Status(models.TextChoices):
        # Google only: waiting for the owner to come back from Google's consent screen.
        PENDING = "pending", "Waiting for Google"
        CONNECTED = "connected", "Connected"
        # Google refused the refresh token (access revoked in the Google account, or expired):
        # nothing is read or written until the owner connects again.
        REVOKED = "revoked", "Access revoked: connect again"
        DISCONNECTED = "disconnected", "Disconnected"

    class Blocks(models.TextChoices):
        ALL_PLACES = "all", "the whole service (every place)"
        ONE_PLACE = "one", "one place, like a booking"

    provider = models.CharField(max_length=10, choices=Provider.choices)
    # Null: the whole business (every service's bookings and availability).
    service = models.ForeignKey("bookings.Service", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="calendar_connections",
                                help_text="Leave empty for the whole business.")
    name = models.CharField(max_length=200, help_text="The calendar's name, as its provider shows it.")
    # Google: the calendar id ("primary" or an address). CalDAV: the calendar collection's URL.
    calendar_id = models.CharField(max_length=500)
    caldav_url = models.URLField(max_length=500, blank=True, help_text="The CalDAV server's address.")
    caldav_username = models.CharField(max_length=200, blank=True)
    # Fernet-encrypted (calendars.crypto): Google's OAuth credentials as JSON, or the CalDAV app password.
    secret = models.TextField(blank=True)
    blocks = models.CharField(max_length=3, choices=Blocks.choices, default=Blocks.ALL_PLACES,
                              verbose_name="an event in this calendar takes")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONNECTED)
    # OAuth: the `state` and PKCE verifier of the consent in progress.
    oauth_state = models.CharField(max_length=100, blank=True)
    oauth_code_verifier = models.CharField(max_length=200, blank=True)
    # Google push: the channel watching the calendar's events (docs/calendars.md).
    channel_id = models.CharField(max_length=100, blank=True)
    channel_resource_id = models.CharField(max_length=200, blank=True)
    channel_expires_at = models.DateTimeField(null=True, blank=True)
    # Sync state, shown in the admin.
    busy_synced_at = models.DateTimeField(null=True, blank=True, help_text="When the busy times were last read.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Since when the calendar has failed without a success in between (null: it works); the owner is
    # told once per outage.
    failing_since = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["status", "service"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display().split(' (')[0]})"


class CalendarBusy(models.Model):
    """A busy time in a connected calendar that Soniq did not write (the business's own appointments).
    Replaced wholesale for the synced window on each read of the calendar."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="busy_times")
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The provider's event id or UID, for the admin and for debugging drift.
    source_event = models.CharField(max_length=1024, blank=True)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["connection", "start", "end"])]
        constraints = [models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="calendar_busy_start_before_end")]

    def __str__(self) -> str:
        return f"Busy {self.start:%Y-%m-%d %H:%M}"


class CalendarEvent(models.Model):
    """The event a booking became in one connected calendar: what it should say (written with the
    booking's follow-up) and what the calendar was last told. The external id is derived from the
    connection and the booking, so a retried insert finds the event it already made."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be written"
        SYNCED = "synced", "In the calendar"
        REMOVED = "removed", "Removed from the calendar"
        # The business deleted the event in its calendar while the booking stands: the owner decides.
        CONFLICT = "conflict", "Deleted in the calendar, booking still confirmed"
        DISMISSED = "dismissed", "Left out of the calendar by the owner"

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="events")
    booking = models.ForeignKey("bookings.Booking", on_delete=models.CASCADE, related_name="calendar_events")
    external_id = models.CharField(max_length=200)
    # What the calendar should show: the event (present) or nothing (the booking was cancelled).
    present = models.BooleanField(default=True)
    summary = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Bumped by every change the booking makes; a push records the version it wrote, so a slow push
    # of an older version never marks a newer one done.
    version = models.PositiveIntegerField(default=1)
    pushed_version = models.PositiveIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    conflict_at = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        constraints = [models.UniqueConstraint(fields=["connection", "booking"], name="calendar_event_one_per_booking")]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return self.summary


class CalendarFallback(models.Model):
    """A voice tool call that went ahead on a calendar's last known busy times because the calendar
    did not answer in time: the call log shows it."""

    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="calendar_fallbacks")
    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="fallbacks")
    busy_as_of = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return self.reason
