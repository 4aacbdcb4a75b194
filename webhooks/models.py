"""The business's webhook endpoints and every delivery to them."""
import base64
import secrets

from django.db import models


class WebhookEvent(models.TextChoices):
    CALL_ENDED = "call.ended", "call.ended"
    BOOKING_CREATED = "booking.created", "booking.created"
    BOOKING_RESCHEDULED = "booking.rescheduled", "booking.rescheduled"
    BOOKING_CANCELLED = "booking.cancelled", "booking.cancelled"
    ORDER_CREATED = "order.created", "order.created"
    CALLBACK_CREATED = "callback.created", "callback.created"


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=webhook_secret_new,
                              help_text="whsec_… — the receiver verifies signatures with it.")
    # Empty list = every event type.
    events = models.JSONField(default=list, blank=True, help_text="Event types to send; empty means all.")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.events or event_type in self.events)


class WebhookDelivery(models.Model):
    """One event to one endpoint, with all its attempts. `message_id` is the `webhook-id` header:
    the same on every retry and resend, so the receiver can drop duplicates."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    event_key = models.CharField(max_length=120)
    message_id = models.CharField(max_length=40, unique=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_key"], name="webhook_delivery_once_per_event")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint.url} ({self.status})"
