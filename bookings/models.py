"""What callers can book: services, the booking policy and bookings (opening hours: tenants.hours)."""
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Func, Q

# What an owner may set (inclusive), in the admin and in a provisioning spec alike; the check
# constraints below hold the database to the same numbers.
BOOKING_POLICY_RANGES = {
    "min_notice_minutes": (0, 60 * 24 * 30),
    "horizon_days": (1, 730),
    "slot_interval_minutes": (5, 240),
    "change_notice_hours": (0, 24 * 30),
}
SERVICE_DURATION_MINUTES_RANGE = (5, 1440)
SERVICE_BUFFER_MINUTES_RANGE = (0, 240)
SERVICE_CAPACITY_RANGE = (1, 100)


class BookingPolicy(models.Model):
    """The tenant's booking rules (one row)."""

    min_notice_minutes = models.PositiveIntegerField(default=60, help_text="How soon the earliest bookable start is.")
    horizon_days = models.PositiveIntegerField(default=60, help_text="How far ahead callers can book.")
    slot_interval_minutes = models.PositiveIntegerField(default=15, help_text="Start times are offered on this grid.")
    change_notice_hours = models.PositiveIntegerField(
        default=0, help_text="Callers can move or cancel a booking by phone until this many hours before it starts "
                             "(0: until it starts).")

    class ChangeVerification(models.TextChoices):
        NAME = "name", "The name on the booking"
        CODE = "code", "The name, and a code texted to the booking's phone when calling from another number"

    # A caller id is easy to fake on SIP: moving or cancelling a booking needs more (bookings/verification.py).
    change_verification = models.CharField(
        max_length=10, choices=ChangeVerification.choices, default=ChangeVerification.NAME,
        help_text="What a caller must give to move or cancel a booking by phone.")

    class Meta:
        verbose_name_plural = "booking policy"
        constraints = [
            models.CheckConstraint(condition=Q(slot_interval_minutes__gte=BOOKING_POLICY_RANGES["slot_interval_minutes"][0]),
                                   name="slot_interval_at_least_5"),
            models.CheckConstraint(condition=Q(horizon_days__gte=BOOKING_POLICY_RANGES["horizon_days"][0]),
                                   name="horizon_at_least_a_day"),
        ]

    def __str__(self) -> str:
        return "Booking rules"


class Service(models.Model):
    name = models.CharField(max_length=100)
    aliases = ArrayField(models.CharField(max_length=100), default=list, blank=True,
                         help_text="Other names callers use, e.g. 'trim' for 'Haircut'.")
    description = models.CharField(max_length=300, blank=True)
    duration_minutes = models.PositiveIntegerField()
    buffer_minutes = models.PositiveIntegerField(default=0, help_text="Clean-up time blocked after each booking.")
    capacity = models.PositiveIntegerField(default=1, help_text="How many bookings can run at the same time.")
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), name="service_unique_name_ci"),
            models.CheckConstraint(condition=Q(duration_minutes__gte=SERVICE_DURATION_MINUTES_RANGE[0])
                                   & Q(duration_minutes__lte=SERVICE_DURATION_MINUTES_RANGE[1]), name="service_duration_range"),
            models.CheckConstraint(condition=Q(capacity__gte=SERVICE_CAPACITY_RANGE[0]) & Q(capacity__lte=SERVICE_CAPACITY_RANGE[1]),
                                   name="service_capacity_range"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="service_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class TstzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Booking(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="bookings")
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The service is unavailable until end + buffer; overlap is judged on this.
    blocked_until = models.DateTimeField()
    # Which of the service's `capacity` parallel places this booking occupies. The exclusion
    # constraint below lets no two confirmed bookings share a lane at overlapping times, so the
    # database itself refuses more than `capacity` overlapping bookings.
    lane = models.PositiveSmallIntegerField(default=0)
    customer_name = models.CharField(max_length=200)
    customer_phone = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONFIRMED)
    notes = models.TextField(blank=True, max_length=2000)
    call = models.ForeignKey("calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="bookings")
    created = models.DateTimeField(auto_now_add=True)
    # When the booking last moved to another time: its reminder is due again for the new time.
    moved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["service", "start"])]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="booking_start_before_end"),
            models.CheckConstraint(condition=Q(end__lte=models.F("blocked_until")), name="booking_blocked_after_end"),
            ExclusionConstraint(
                name="booking_no_overlap_per_lane",
                expressions=[
                    ("service", RangeOperators.EQUAL),
                    ("lane", RangeOperators.EQUAL),
                    (TstzRange("start", "blocked_until"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status="confirmed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.start:%Y-%m-%d %H:%M} {self.customer_name}"


class BookingEvent(models.Model):
    """One change to a booking after it was made, for its history: moved from one time to another,
    or cancelled (by the caller on the phone, or by staff). How it was made is the booking's own
    `call` (by phone) or its absence (by staff)."""

    class Kind(models.TextChoices):
        MOVED = "moved", "Moved"
        CANCELLED_BY_CALLER = "cancelled_by_caller", "Cancelled by the caller"
        CANCELLED_BY_STAFF = "cancelled_by_staff", "Cancelled by staff"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_start = models.DateTimeField(null=True, blank=True)
    to_start = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    call = models.ForeignKey("calls.Call", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="booking_events")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.booking_id})"
