"""The menu and the orders callers place. Money is Decimal throughout."""
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from tenants.selectors import tenant_currency


class MenuItem(models.Model):
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=300, blank=True)
    aliases = ArrayField(models.CharField(max_length=100), default=list, blank=True,
                         help_text="Other names callers use, e.g. 'pepperoni pie'.")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    currency = models.CharField(max_length=3, default=tenant_currency, editable=False)
    available = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), name="menu_item_unique_name_ci"),
            models.CheckConstraint(condition=Q(price__gte=0), name="menu_item_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class OrderingPolicy(models.Model):
    """How long orders take (one row)."""

    # What the owner may set, in the admin and in a provisioning spec alike (minutes, inclusive).
    PREP_MINUTES_RANGE = (1, 480)
    DELIVERY_MINUTES_RANGE = (0, 480)

    prep_minutes = models.PositiveIntegerField(default=20)
    delivery_minutes = models.PositiveIntegerField(default=30, help_text="Added to prep time for deliveries.")
    delivery_available = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "ordering policy"

    def __str__(self) -> str:
        return "Ordering rules"


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        PREPARING = "preparing", "Preparing"
        READY = "ready", "Ready"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Fulfillment(models.TextChoices):
        PICKUP = "pickup", "Pickup"
        DELIVERY = "delivery", "Delivery"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    fulfillment = models.CharField(max_length=20, choices=Fulfillment.choices, default=Fulfillment.PICKUP)
    customer_name = models.CharField(max_length=200)
    customer_phone = models.CharField(max_length=20)
    delivery_address = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True, max_length=2000)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default=tenant_currency, editable=False)
    estimated_ready_at = models.DateTimeField(null=True, blank=True)
    call = models.ForeignKey("calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative")]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.customer_name}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    menu_item = models.ForeignKey(MenuItem, on_delete=models.PROTECT, related_name="order_lines")
    # The name and price at the time of ordering; a later menu change must not rewrite history.
    name = models.CharField(max_length=100)
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)
    line_total = models.DecimalField(max_digits=10, decimal_places=2)
    notes = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1) & Q(quantity__lte=99), name="order_line_quantity_1_99"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="order_line_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"
