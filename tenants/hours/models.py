"""When the business is open: weekly opening ranges and whole-day closures, in the tenant's own zone.

Bookings and orders both read them (a slot must lie in opening hours; a pickup order waits for the
next opening), so they belong to the business rather than to either domain."""
from django.db import models
from django.db.models import Q

from core.weekdays import WEEKDAYS


class OpeningHours(models.Model):
    """One opening range on a weekday; a day can have several (09:00–12:00, 13:00–18:00)."""

    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        db_table = "bookings_openinghours"  # the table predates this app (see migrations/0001_initial.py)
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(condition=Q(opens__lt=models.F("closes")), name="opening_opens_before_closes"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="opening_weekday_range"),
            models.UniqueConstraint(fields=["weekday", "opens"], name="opening_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Closure(models.Model):
    """A whole day the business is closed (holiday, vacation)."""

    date = models.DateField(unique=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "bookings_closure"
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.reason}".strip()
