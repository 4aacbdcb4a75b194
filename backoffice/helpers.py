"""Pieces the tenant admin's ModelAdmins share: read-only admins for what the phone produced,
one-row settings admins, time-range overlap checks and display helpers."""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import phonenumbers
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from core import clock
from core.weekdays import WEEKDAY_NAMES
from tenants.selectors import tenant_clock_text


class PhoneDataReadOnlyMixin:
    """Calls, transcripts, tool calls, the SMS log, orders and callback requests are records of what
    happened on the phone: viewable, never added, edited or deleted by hand (an order's status and a
    callback's progress move through their own buttons, which check the model permission)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DateHierarchyInReachMixin:
    """Django's date_hierarchy turns `?start__year=9999&start__month=12&start__day=31` into "from
    that day to the next", which does not exist (a 500). A date out of clock.DATE_REACH_DAYS is
    dropped from the query with a message saying so; the list is shown without it."""

    def changelist_view(self, request, extra_context=None):
        field = getattr(self, "date_hierarchy", None)
        year = request.GET.get(f"{field}__year") if field else None
        if year is not None:
            try:
                day = dt.date(int(year), int(request.GET.get(f"{field}__month") or 1),
                              int(request.GET.get(f"{field}__day") or 1))
            except (ValueError, OverflowError):
                day = None  # not a date at all: Django answers that itself
            today = timezone.localdate(clock.now())
            if day is not None and not clock.date_in_reach(day, today=today):
                messages.warning(request, f"{day.isoformat()} is out of range: dates go back and ahead "
                                          f"{clock.DATE_REACH_DAYS // 366} years. Showing every date instead.")
                query = request.GET.copy()
                for part in ("year", "month", "day"):
                    query.pop(f"{field}__{part}", None)
                return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query else request.path)
        return super().changelist_view(request, extra_context)


class SingleRowAdminMixin:
    """Settings kept in one row (agent settings, booking policy, ordering policy): the list goes
    straight to that row, and the row can be neither added twice nor deleted."""

    def has_add_permission(self, request):
        return not self.model.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = self.model.objects.order_by("pk").first()
        opts = self.model._meta
        site = self.admin_site.name
        if row is None:
            return HttpResponseRedirect(reverse(f"{site}:{opts.app_label}_{opts.model_name}_add"))
        return HttpResponseRedirect(reverse(f"{site}:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))


def first_overlap(ranges: Iterable[tuple[int, dt.time, dt.time]]) -> tuple[int, tuple, tuple] | None:
    """The first (weekday, range, range) pair of overlapping ranges on the same weekday, or None.
    Ranges that merely touch (12:30 closes, 12:30 opens) do not overlap."""
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, starts, ends in ranges:
        by_day.setdefault(weekday, []).append((starts, ends))
    for weekday, day_ranges in sorted(by_day.items()):
        day_ranges.sort()
        for earlier, later in zip(day_ranges, day_ranges[1:], strict=False):
            if later[0] < earlier[1]:
                return weekday, earlier, later
    return None


def overlap_message(weekday: int, earlier: tuple, later: tuple, what: str) -> str:
    return (f"{what} on {WEEKDAY_NAMES[weekday]} overlap: {earlier[0]:%H:%M}–{earlier[1]:%H:%M} and "
            f"{later[0]:%H:%M}–{later[1]:%H:%M}. Change one so they don't share any time.")


def validate_range_order(starts: dt.time | None, ends: dt.time | None, *, starts_field: str, ends_field: str) -> None:
    if starts is not None and ends is not None and starts >= ends:
        raise ValidationError({ends_field: f"Must be later than {starts:%H:%M}."})


def duration_text(seconds: Decimal | float | int | None) -> str:
    """`3:05` for 185 seconds; `1:02:03` past the hour; `—` when unknown."""
    if seconds is None:
        return "—"
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_time_text(moment: dt.datetime | None, *, with_date: bool = True) -> str:
    """A datetime in the active (tenant's) time zone: `Tue 12 May, 14:03`; today shows `Today, 14:03`."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    today = timezone.localtime(clock.now()).date()
    clock_text = tenant_clock_text(local.timetz())
    if not with_date:
        return clock_text
    if local.date() == today:
        return f"Today, {clock_text}"
    if local.date() == today - dt.timedelta(days=1):
        return f"Yesterday, {clock_text}"
    return f"{local:%a} {local.day} {local:%b}, {clock_text}"


def phone_text(number: str | None) -> str:
    """A stored E.164 number as people read it: `+1 555-010-0123`. Anything else (a SIP URI, a
    withheld or odd caller id) is shown as stored."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def unique_name_or_error(*, model, name: str, instance, what: str) -> str:
    """`name` stripped, or a ValidationError when another row already has it (case-insensitively,
    as the database's unique index on lower(name) would refuse it)."""
    from django.core.exceptions import ValidationError

    name = name.strip()
    clash = model.objects.filter(name__iexact=name)
    if instance.pk:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError(f"There is already {what} called {name!r}.")
    return name


class PriceCurrencyFormMixin:
    """The price rule every priced thing (services, menu items) shares in the admin. The currency is
    the business's (`Tenant.currency`, set in its spec): shown beside the price, never chosen per
    item, and written on save so an item kept from before lines up with the rest."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from tenants.selectors import tenant_currency

        self.currency = tenant_currency()
        if "price" in self.fields:
            self.fields["price"].label = f"Price ({self.currency})"
            self.fields["price"].help_text = (f"In {self.currency}, the business's currency: every price, order "
                                              "and total is in it.")

    def clean_price(self):
        from django.core.exceptions import ValidationError

        value = self.cleaned_data.get("price")
        if value is not None and value < 0:
            raise ValidationError("A price cannot be negative.")
        return value

    def save(self, commit=True):
        self.instance.currency = self.currency
        return super().save(commit)


# --- CSV export --------------------------------------------------------------------------------
# A spreadsheet reads a cell that starts with one of these as a formula: a caller who gives their
# name as "=HYPERLINK(...)" must not get to run it on the owner's computer.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_export_action(*, name: str, columns: list[tuple[str, Callable[[Any], Any]]]):
    """An admin action that downloads the selected rows as `<name>-<today>.csv`: one column per
    `(header, value of a row)`, times in the tenant's zone, money as written (Decimal), cells that
    a spreadsheet would run as formulas quoted."""

    @admin.action(description="Export selected to CSV (spreadsheet)", permissions=["view"])
    def export_csv(modeladmin, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate(clock.now()):%Y-%m-%d}.csv"'
        writer = csv.writer(response)
        writer.writerow([header for header, _ in columns])
        for row in queryset:
            writer.writerow([_csv_cell(value(row)) for _, value in columns])
        return response

    return export_csv
