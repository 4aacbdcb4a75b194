"""The tenant admin for the booking side: opening hours, closures, booking rules, services, and the
bookings themselves (a list and a day view)."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from backoffice.dashboard import bookings_day_view
from backoffice.forms import BookingAddForm
from backoffice.helpers import (
    DateHierarchyInReachMixin,
    PriceCurrencyFormMixin,
    SingleRowAdminMixin,
    csv_export_action,
    first_overlap,
    local_time_text,
    overlap_message,
    phone_text,
    unique_name_or_error,
    validate_range_order,
)
from backoffice.sites import tenant_admin_site
from bookings.models import Booking, BookingPolicy, Service
from bookings.services import bookings_cancel
from core import clock
from tenants.hours.models import Closure, OpeningHours


class OpeningHoursForm(forms.ModelForm):
    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]
        help_texts = {"opens": "Local time, e.g. 09:00.", "closes": "Local time, e.g. 17:30."}
        widgets = {"opens": forms.TimeInput(format="%H:%M"), "closes": forms.TimeInput(format="%H:%M")}

    def clean(self):
        cleaned_data = super().clean()
        weekday, opens, closes = (cleaned_data.get(name) for name in ("weekday", "opens", "closes"))
        validate_range_order(opens, closes, starts_field="opens", ends_field="closes")
        if weekday is not None and opens and closes:
            others = OpeningHours.objects.filter(weekday=weekday)
            if self.instance.pk:
                others = others.exclude(pk=self.instance.pk)
            overlap = first_overlap([(weekday, opens, closes)] + [(row.weekday, row.opens, row.closes) for row in others])
            if overlap:
                raise ValidationError(overlap_message(*overlap, what="Opening hours"))
        return cleaned_data


@admin.register(OpeningHours, site=tenant_admin_site)
class OpeningHoursAdmin(admin.ModelAdmin):
    form = OpeningHoursForm
    list_display = ["weekday", "opens", "closes"]
    list_display_links = ["weekday", "opens"]
    list_filter = ["weekday"]
    ordering = ["weekday", "opens"]


class ClosureForm(forms.ModelForm):
    class Meta:
        model = Closure
        fields = ["date", "reason"]
        help_texts = {"date": "The business is closed all day; the agent offers no bookings and tells callers."}


@admin.register(Closure, site=tenant_admin_site)
class ClosureAdmin(DateHierarchyInReachMixin, admin.ModelAdmin):
    form = ClosureForm
    list_display = ["date", "weekday", "reason"]
    date_hierarchy = "date"

    @admin.display(description="Day")
    def weekday(self, closure):
        return f"{closure.date:%A}"


class BookingPolicyForm(forms.ModelForm):
    class Meta:
        model = BookingPolicy
        fields = ["min_notice_minutes", "horizon_days", "slot_interval_minutes", "change_notice_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty, it means what the default means: callers may change a booking until it starts.
        self.fields["change_notice_hours"].required = False

    def clean_change_notice_hours(self):
        return self.cleaned_data.get("change_notice_hours") or 0

    def clean_slot_interval_minutes(self):
        value = self.cleaned_data["slot_interval_minutes"]
        if value < 5:
            raise ValidationError("Start times must be at least 5 minutes apart.")
        return value

    def clean_horizon_days(self):
        value = self.cleaned_data["horizon_days"]
        if value < 1:
            raise ValidationError("Callers must be able to book at least one day ahead.")
        return value


@admin.register(BookingPolicy, site=tenant_admin_site)
class BookingPolicyAdmin(SingleRowAdminMixin, admin.ModelAdmin):
    form = BookingPolicyForm


class ServiceForm(PriceCurrencyFormMixin, forms.ModelForm):
    class Meta:
        model = Service
        fields = ["name", "aliases", "description", "duration_minutes", "buffer_minutes", "capacity", "price",
                  "currency", "active"]
        help_texts = {
            "aliases": "Other names callers use, separated by commas (e.g. trim, men's cut).",
            "capacity": "How many of these can run at the same time (e.g. 2 chairs).",
            "active": "Untick to stop offering it on the phone without losing past bookings.",
        }

    def clean_name(self):
        return unique_name_or_error(model=Service, name=self.cleaned_data["name"], instance=self.instance,
                                    what="a service")

    def clean_duration_minutes(self):
        value = self.cleaned_data["duration_minutes"]
        if not 5 <= value <= 1440:
            raise ValidationError("A service lasts from 5 minutes to 24 hours (1440 minutes).")
        return value

    def clean_buffer_minutes(self):
        value = self.cleaned_data["buffer_minutes"]
        if value > 240:
            raise ValidationError("The clean-up time can be at most 240 minutes.")
        return value

    def clean_capacity(self):
        value = self.cleaned_data["capacity"]
        if not 1 <= value <= 100:
            raise ValidationError("Capacity is how many can be booked at once: 1 to 100.")
        return value




@admin.register(Service, site=tenant_admin_site)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceForm
    list_display = ["name", "duration_minutes", "buffer_minutes", "capacity", "price", "currency", "active"]
    list_filter = ["active"]
    search_fields = ["name", "aliases"]

    def has_delete_permission(self, request, obj=None):
        # Bookings point at services (PROTECT); retiring is done with the "active" box.
        if obj is not None and obj.bookings.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Booking, site=tenant_admin_site)
class BookingAdmin(DateHierarchyInReachMixin, admin.ModelAdmin):
    change_list_template = "admin/soniq/booking_change_list.html"
    list_display = ["when", "service", "customer", "status_badge", "from_call", "booked"]
    list_filter = ["status", "service", ("start", admin.DateFieldListFilter)]
    search_fields = ["customer_name", "customer_phone", "notes"]
    date_hierarchy = "start"
    list_select_related = ["service", "call"]
    actions = ["cancel_bookings", csv_export_action(name="bookings", columns=[
        ("Start", lambda booking: booking.start), ("End", lambda booking: booking.end),
        ("Service", lambda booking: booking.service.name), ("Customer", lambda booking: booking.customer_name),
        ("Phone", lambda booking: booking.customer_phone), ("Status", lambda booking: booking.get_status_display()),
        ("Notes", lambda booking: booking.notes), ("Booked at", lambda booking: booking.created),
        ("Booked by", lambda booking: "phone agent" if booking.call_id else "staff"),
    ])]
    # Only the notes are the owner's to write; where and when a booking is (and which parallel
    # "lane" it holds) is the booking service's job, guarded by the exclusion constraint.
    readonly_fields = ["service", "start", "end", "blocked_until", "lane", "customer_name", "customer_phone",
                       "status", "call_link", "created", "history"]
    fields = ["service", "start", "end", "customer_name", "customer_phone", "status", "notes", "call_link",
              "created", "history", "blocked_until", "lane"]

    def add_view(self, request, form_url="", extra_context=None):
        """Not the model form (where and when a booking is is the booking service's to decide): a
        form whose save goes through `booking_create`, so a booking taken at the counter obeys the
        same hours, closures and capacity as one taken by the agent, and sends the same SMS."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        tz = connection.tenant.tzinfo
        try:
            day = dt.date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = clock.now().astimezone(tz).date()
        form = BookingAddForm(request.POST if request.method == "POST" else None, initial={"date": day})
        if request.method == "POST" and form.is_valid():
            booking = form.book(now=clock.now())
            if booking is not None:
                self.log_addition(request, booking, [{"added": {}}])
                start = timezone.localtime(booking.start, tz)
                self.message_user(request, f"Booked {booking.customer_name} for {booking.service.name} on "
                                           f"{start:%a} {start.day} {start:%b} at {start:%H:%M}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_booking_day")
                                            + f"?date={start.date().isoformat()}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add booking",
            "subtitle": None,
            "form": form,
            "changelist_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_add.html", context)

    def get_urls(self):
        return [
            path("day/", self.admin_site.admin_view(self.day_view), name="bookings_booking_day"),
            *super().get_urls(),
        ]

    @admin.display(description="History")
    def history(self, booking):
        from bookings.selectors import booking_history

        return format_html_join(mark_safe("<br>"), "{}: {}", ((local_time_text(when), sentence)
                                                               for when, sentence in booking_history(booking=booking)))

    @admin.display(description="When", ordering="start")
    def when(self, booking):
        local = timezone.localtime(booking.start)
        return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}–{timezone.localtime(booking.end):%H:%M}"

    @admin.display(description="Customer", ordering="customer_name")
    def customer(self, booking):
        return format_html('{}<br><span class="soniq-quiet">{}</span>', booking.customer_name,
                           phone_text(booking.customer_phone))

    @admin.display(description="Booked", ordering="created")
    def booked(self, booking):
        return local_time_text(booking.created)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, booking):
        return format_html('<span class="soniq-badge soniq-{}">{}</span>', booking.status, booking.get_status_display())

    @admin.display(description="From call")
    def from_call(self, booking):
        if booking.call_id is None:
            return "—"
        url = reverse(f"{self.admin_site.name}:calls_call_change", args=[booking.call_id])
        return format_html('<a href="{}">{}</a>', url, local_time_text(booking.call.started_at))

    @admin.display(description="Call")
    def call_link(self, booking):
        return self.from_call(booking)

    @admin.action(description="Cancel selected bookings", permissions=["change"])
    def cancel_bookings(self, request, queryset):
        cancelled = len(bookings_cancel(booking_ids=list(queryset.values_list("pk", flat=True)), now=clock.now()))
        self.message_user(request, f"Cancelled {cancelled} booking{'s' if cancelled != 1 else ''}.", messages.SUCCESS)

    def day_view(self, request):
        # The day view shows customers' names and phones: the same permission as the list (issue 29, item 7).
        if not self.has_view_permission(request):
            raise PermissionDenied
        tz = connection.tenant.tzinfo
        today = clock.now().astimezone(tz).date()
        try:
            day = dt.date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = today
        if not clock.date_in_reach(day, today=today):
            # 9999-12-31 has no next day, and its bounds in UTC overflow: say so, show today.
            messages.warning(request, f"{day.isoformat()} is out of range: the day view goes back and ahead "
                                      f"{clock.DATE_REACH_DAYS // 366} years. Showing today instead.")
            day = today
        view = bookings_day_view(day=day, tz=tz)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Bookings on {day:%A} {day.day} {day:%B %Y}",
            "subtitle": None,
            "view": view,
            "today": today,
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "changelist_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist"),
            "has_add_permission": self.has_add_permission(request),
            "day_list_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist")
            + f"?start__year={day.year}&start__month={day.month}&start__day={day.day}",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_day.html", context)
