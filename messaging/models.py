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
