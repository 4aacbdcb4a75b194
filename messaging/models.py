"""The SMS log: every text Soniq sends or decides not to send, with its delivery state.

A message may be about a booking, an order or a call; those foreign keys are string references, so
messaging imports none of the apps that call it.
"""
from django.db import models


class SmsMessage(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Confirmation"
        ORDER_READY = "order_ready", "Order ready"
        BOOKING_CANCELLED = "booking_cancelled", "Booking cancelled"
        BOOKING_REMINDER = "booking_reminder", "Booking reminder"
        BOOKING_RESCHEDULED = "booking_rescheduled", "Booking moved by the caller"
        CANCEL_CONFIRMATION = "cancel_confirmation", "Cancellation by the caller"
        VERIFICATION_CODE = "verification_code", "Code to change a booking"
        TRANSFER_CONTEXT = "transfer_context", "Transfer: who is calling and why, to the staff phone"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONFIRMATION)
    to_number = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    body = models.TextField(max_length=1600)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    provider_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    booking = models.ForeignKey("bookings.Booking", null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages")
    call = models.ForeignKey("calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        # The table predates this app (the model moved from `calls`; see migrations/0001_initial.py).
        db_table = "calls_smsmessage"
        ordering = ["-created"]
        verbose_name = "SMS message"

    def __str__(self) -> str:
        return f"SMS to {self.to_number} ({self.status})"


class SmsOptOut(models.Model):
    """A customer number that texted STOP to the business: no text goes to it until it texts START.
    One row per number, kept when they opt back in (`opted_out` false), so the history stays."""

    number = models.CharField(max_length=20, unique=True)
    opted_out = models.BooleanField(default=True)
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = "SMS opt-out"
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.number} ({'opted out' if self.opted_out else 'opted back in'})"


class SmsReply(models.Model):
    """A text a customer sent to the business's number that was not a keyword (STOP, START, HELP):
    shown to staff, who answer it themselves."""

    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    body = models.TextField(max_length=1600)
    # SignalWire's MessageSid: a webhook SignalWire retries is stored once.
    provider_id = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    handled = models.BooleanField(default=False, help_text="Tick once someone has answered it.")

    class Meta:
        verbose_name = "text reply"
        verbose_name_plural = "text replies"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.from_number}: {self.body[:40]}"
