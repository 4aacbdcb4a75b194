"""Who at the business hears of which follow-up, and every email and staff SMS sent (or not)."""
from django.db import models


class NotificationEvent(models.TextChoices):
    CALLBACK_REQUESTED = "callback_requested", "New callback request"
    MESSAGE_LEFT = "message_left", "Message left for the owner"
    TRANSFER_FAILED = "transfer_failed", "Failed transfer"
    BOOKING_CANCELLED = "booking_cancelled", "Booking cancelled by a caller"
    BOOKING_MOVED = "booking_moved", "Booking moved by a caller"
    BOOKING_CREATED = "booking_created", "New booking made by phone"
    ORDER_CREATED = "order_created", "New order placed by phone"
    SMS_REPLY = "sms_reply", "Text from a customer"


def every_event() -> list[str]:
    return list(NotificationEvent.values)


class NotificationSettings(models.Model):
    """One row per tenant schema (`notification_settings_get` creates it)."""

    emails = models.JSONField(default=list, blank=True, help_text="Addresses that get the emails and the daily digest.")
    sms_numbers = models.JSONField(default=list, blank=True, help_text="Staff mobile numbers (E.164) texted for each event.")
    # The events the owner chose, spelled out: a new business gets every one, and none ticked means
    # none (it used to mean all, which nobody could guess from the form).
    events = models.JSONField(default=every_event, blank=True, help_text="The events that are sent.")
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="No staff SMS from this time (business's time zone)...")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="...until this time; they are sent then.")
    digest_enabled = models.BooleanField(default=True, help_text="Email yesterday's summary every morning.")

    class Meta:
        verbose_name = verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return "Notification settings"

    def wants(self, event: str) -> bool:
        return event in self.events


class Notification(models.Model):
    """One message to one recipient. (`event_key`, channel, recipient) is unique: an event emitted
    twice (a retried request, a task run twice) still sends each recipient one message."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    event = models.CharField(max_length=30)
    event_key = models.CharField(max_length=120)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Not sent before this moment (staff SMS in quiet hours wait for the morning).
    not_before = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["event_key", "channel", "recipient"], name="notification_once_per_recipient")]
        indexes = [models.Index(fields=["status", "created"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}: {self.subject or self.body[:40]}"
