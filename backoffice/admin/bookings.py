"""The tenant admin for the booking side: opening hours, closures, booking rules, services, and the
bookings themselves (a list and a day view)."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Q
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from backoffice.dashboard import bookings_day_view, local_day_bounds
from backoffice.forms import BookingAddForm, booking_refusal_for_owner
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
from bookings.availability import booking_rules_load, bookings_for_days, day_availability
from bookings.models import Booking, BookingPolicy, Service
from bookings.services import booking_day_check, booking_reschedule, bookings_cancel
from core import clock
from core.errors import DomainError
from tenants.agent.models import AgentSettings
from tenants.hours.models import Closure, OpeningHours
from tenants.hours.selectors import local_datetime
from tenants.selectors import tenant_clock_text


def business_texts_customers() -> bool:
    return AgentSettings.objects.filter(sms_confirmations=True).exists()


def booking_title(booking: Booking) -> str:
    """`Colour on Thu 10 Dec 2026 at 11:00, Maria Lopez`: the business's clock, not UTC."""
    start = timezone.localtime(booking.start)
    return (f"{booking.service.name} on {start:%a} {start.day} {start:%b %Y} at {tenant_clock_text(start.time())}, "
            f"{booking.customer_name}")


class BookingMoveForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


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
    """A day off. Closing a day that already has confirmed bookings says so, with the count, and
    asks what becomes of them: cancelled (each customer texted, as when the business cancels from
    the list) in the same save, or kept for the owner to sort out."""

    CANCEL, KEEP = "cancel", "keep"
    bookings_that_day = forms.ChoiceField(
        required=False, label="Bookings that day", widget=forms.HiddenInput,
        choices=[("", "—"), (CANCEL, "Cancel them and text each customer"),
                 (KEEP, "Keep them (I will sort them out myself)")],
    )

    class Meta:
        model = Closure
        fields = ["date", "reason"]
        help_texts = {"date": "The business is closed all day; the agent offers no bookings and tells callers."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bookings_to_cancel: list[int] = []

    def clean(self):
        cleaned_data = super().clean()
        day = cleaned_data.get("date")
        if day is None:
            return cleaned_data
        start, end = local_day_bounds(day, connection.tenant.tzinfo)
        booked = list(Booking.objects.filter(status=Booking.Status.CONFIRMED, start__gte=start, start__lt=end)
                      .values_list("pk", flat=True))
        if not booked:
            return cleaned_data
        choice = cleaned_data.get("bookings_that_day")
        if choice not in (self.CANCEL, self.KEEP):
            self.fields["bookings_that_day"].widget = forms.RadioSelect(choices=self.fields["bookings_that_day"].choices[1:])
            count = f"{len(booked)} confirmed booking{'s' if len(booked) != 1 else ''}"
            self.add_error("bookings_that_day", f"{day:%A} {day.day} {day:%B} has {count}. Cancel them (each "
                                                "customer gets a text) or keep them, then save again.")
        elif choice == self.CANCEL:
            self.bookings_to_cancel = booked
        return cleaned_data


@admin.register(Closure, site=tenant_admin_site)
class ClosureAdmin(DateHierarchyInReachMixin, admin.ModelAdmin):
    form = ClosureForm
    list_display = ["date", "weekday", "reason"]
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.bookings_to_cancel:
            # The business's own cancellation, the one the bookings list uses: the places are freed,
            # each customer whose booking is ahead is texted, webhooks hear of each.
            cancelled = bookings_cancel(booking_ids=form.bookings_to_cancel, now=clock.now())
            texted = " Each customer is texted." if business_texts_customers() else (
                " SMS to customers is off (Agent settings), so they are not texted: call them.")
            self.message_user(request, f"Cancelled {len(cancelled)} booking{'s' if len(cancelled) != 1 else ''} "
                                       f"on {obj.date:%A} {obj.date.day} {obj.date:%B}.{texted}", messages.WARNING)

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
                  "active"]
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


class BookingWhenFilter(admin.SimpleListFilter):
    """Upcoming bookings by default (what the front desk works from), with Today, Tomorrow and This
    week on the business's clock; a day picked in the date drill-down shows that day, past or not."""

    title = "when"
    parameter_name = "when"
    HIERARCHY_PREFIX = "start__"

    def __init__(self, request, params, model, model_admin):
        self.drilled_down = any(key.startswith(self.HIERARCHY_PREFIX) for key in request.GET)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [("upcoming", "Upcoming"), ("today", "Today"), ("tomorrow", "Tomorrow"), ("week", "This week"),
                ("past", "Past"), ("all", "All")]

    def value(self):
        return super().value() or ("all" if self.drilled_down else "upcoming")

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        tz = connection.tenant.tzinfo
        now = clock.now()
        today = now.astimezone(tz).date()
        value = self.value()
        if value == "upcoming":
            return queryset.filter(end__gt=now).order_by("start")
        if value == "past":
            return queryset.filter(end__lte=now)
        if value in ("today", "tomorrow", "week"):
            first = today + dt.timedelta(days=1) if value == "tomorrow" else (
                today - dt.timedelta(days=today.weekday()) if value == "week" else today)
            last = first + dt.timedelta(days=6 if value == "week" else 0)
            start, _ = local_day_bounds(first, tz)
            _, end = local_day_bounds(last, tz)
            return queryset.filter(start__gte=start, start__lt=end).order_by("start")
        return queryset


class BookingCancelForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Goes in each booking's history.")


@admin.register(Booking, site=tenant_admin_site)
class BookingAdmin(DateHierarchyInReachMixin, admin.ModelAdmin):
    change_list_template = "admin/soniq/booking_change_list.html"
    list_display = ["when", "service", "customer", "status_badge", "from_call", "booked"]
    list_filter = [BookingWhenFilter, "status", "service"]
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
    change_form_template = "admin/soniq/booking_change_form.html"
    # Only the notes are the owner's to write; where and when a booking is (and which parallel
    # "lane" it holds, and until when its clean-up blocks the chair) is the booking service's job,
    # guarded by the exclusion constraint, and not shown: Cancel and Move below go through it.
    readonly_fields = ["service", "when", "customer_name", "customer_phone", "status", "call_link", "created",
                       "history"]
    fields = ["service", "when", "customer_name", "customer_phone", "status", "notes", "call_link", "created",
              "history"]

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
        # A click on a free slot of the day view arrives with the service and time too.
        initial = {"date": day, "service": request.GET.get("service") or None, "time": request.GET.get("time") or None}
        form = BookingAddForm(request.POST if request.method == "POST" else None, initial=initial)
        if request.method == "POST" and form.is_valid():
            booking = form.book(now=clock.now())
            if booking is not None:
                self.log_addition(request, booking, [{"added": {}}])
                start = timezone.localtime(booking.start, tz)
                self.message_user(request, f"Booked {booking.customer_name} for {booking.service.name} on "
                                           f"{start:%a} {start.day} {start:%b} at {tenant_clock_text(start.time())}.",
                                 messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_booking_day")
                                            + f"?date={start.date().isoformat()}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add booking",
            "subtitle": None,
            "form": form,
            "changelist_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist"),
            "free_times_url": reverse(f"{self.admin_site.name}:bookings_booking_free_times"),
            "customers_url": reverse(f"{self.admin_site.name}:bookings_booking_customers"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_add.html", context)

    def free_times_view(self, request):
        """The free start times of a service on a day, for "Add booking": the agent's rules without
        the minimum notice (as the form books), on the business's clock."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        service = Service.objects.filter(pk=request.GET.get("service") or None, active=True).first() \
            if (request.GET.get("service") or "").isdigit() else None
        try:
            day = dt.date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = None
        if service is None or day is None or not clock.date_in_reach(day, today=clock.now().date()):
            return JsonResponse({"times": [], "status": "invalid"}, status=400)
        now = clock.now()
        rules = booking_rules_load(service=service, now=now, around=day).without_notice()
        day_free = day_availability(rules, day, bookings_for_days(service, first_day=day, last_day=day, tz=rules.tz))
        return JsonResponse({"times": [f"{start:%H:%M}" for start in day_free.free_starts], "status": day_free.status})

    def customers_view(self, request):
        """Returning customers whose name or number matches what the owner types in "Add booking":
        the latest name and number of each, most recent first."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = " ".join(request.GET.get("q", "").split())[:100]
        digits = "".join(ch for ch in query if ch.isdigit())
        if len(query) < 2:
            return JsonResponse({"customers": []})
        matches = Q(customer_name__icontains=query)
        if len(digits) >= 3:
            matches |= Q(customer_phone__contains=digits)
        customers, seen = [], set()
        for name, phone in (Booking.objects.filter(matches).order_by("-created")
                            .values_list("customer_name", "customer_phone")[:200]):
            if phone in seen:
                continue
            seen.add(phone)
            customers.append({"name": name, "phone": phone, "phone_text": phone_text(phone)})
            if len(customers) == 8:
                break
        return JsonResponse({"customers": customers})

    def week_view(self, request):
        """Seven days, Monday to Sunday, each with its bookings in time order and how busy it is."""
        tz = connection.tenant.tzinfo
        today = clock.now().astimezone(tz).date()
        try:
            day = dt.date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = today
        if not clock.date_in_reach(day, today=today):
            day = today
        monday = day - dt.timedelta(days=day.weekday())
        start, _ = local_day_bounds(monday, tz)
        _, end = local_day_bounds(monday + dt.timedelta(days=6), tz)
        bookings = list(Booking.objects.filter(status=Booking.Status.CONFIRMED, start__gte=start, start__lt=end)
                        .select_related("service").order_by("start"))
        closures = dict(Closure.objects.filter(date__gte=monday, date__lte=monday + dt.timedelta(days=6))
                        .values_list("date", "reason"))
        days = []
        for offset in range(7):
            date = monday + dt.timedelta(days=offset)
            days.append({"date": date, "is_today": date == today, "closed": date in closures,
                         "closed_reason": closures.get(date) or "Closed",
                         "bookings": [b for b in bookings if timezone.localtime(b.start, tz).date() == date]})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Week of {monday:%a} {monday.day} {monday:%B %Y}",
            "subtitle": None,
            "days": days,
            "today": today,
            "previous_week": monday - dt.timedelta(days=7),
            "next_week": monday + dt.timedelta(days=7),
            "changelist_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist"),
            "has_add_permission": self.has_add_permission(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_week.html", context)

    def get_urls(self):
        return [
            path("day/", self.admin_site.admin_view(self.day_view), name="bookings_booking_day"),
            path("week/", self.admin_site.admin_view(self.week_view), name="bookings_booking_week"),
            path("add/free-times/", self.admin_site.admin_view(self.free_times_view), name="bookings_booking_free_times"),
            path("customers/", self.admin_site.admin_view(self.customers_view), name="bookings_booking_customers"),
            path("<int:booking_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="bookings_booking_cancel"),
            path("<int:booking_id>/move/", self.admin_site.admin_view(self.move_view), name="bookings_booking_move"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        booking = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if booking is not None:
            # Titled on the business's clock, not by the model's UTC str().
            context["title"] = booking_title(booking)
            context["subtitle"] = None
            if booking.status == Booking.Status.CONFIRMED and self.has_change_permission(request, booking):
                start = timezone.localtime(booking.start)
                context["booking_actions"] = {
                    "cancel_url": reverse(f"{self.admin_site.name}:bookings_booking_cancel", args=[booking.pk]),
                    "move_url": reverse(f"{self.admin_site.name}:bookings_booking_move", args=[booking.pk]),
                    "move_form": BookingMoveForm(initial={"date": start.date(), "time": start.time()}),
                    "texts_customer": business_texts_customers(),
                }
        return super().change_view(request, object_id, form_url, context)

    def _booking_for_action(self, request, booking_id: int) -> Booking:
        if request.method != "POST":
            raise PermissionDenied
        booking = Booking.objects.filter(pk=booking_id).select_related("service").first()
        if booking is None or not self.has_change_permission(request, booking):
            raise PermissionDenied
        return booking

    def cancel_view(self, request, booking_id: int):
        """The business cancels one booking, with a reason for its history: the place is freed and
        the customer texted (if the appointment is ahead), as with the list's Cancel."""
        booking = self._booking_for_action(request, booking_id)
        reason = " ".join(request.POST.get("reason", "").split())[:500]
        if not reason:
            self.message_user(request, "Say why the booking is cancelled (it goes in its history).", messages.ERROR)
        elif bookings_cancel(booking_ids=[booking.pk], now=clock.now(), reason=reason):
            texted = " The customer is texted." if business_texts_customers() and booking.start > clock.now() else ""
            self.message_user(request, f"Cancelled {booking_title(booking)}.{texted}", messages.SUCCESS)
        else:
            self.message_user(request, "That booking was already cancelled.", messages.WARNING)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_booking_change", args=[booking.pk]))

    def move_view(self, request, booking_id: int):
        """Move a booking by the rules the agent's reschedule keeps (hours, closures, capacity, the
        change notice), with the same text to the customer."""
        booking = self._booking_for_action(request, booking_id)
        form = BookingMoveForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Choose the new day and time.", messages.ERROR)
        else:
            day = form.cleaned_data["date"]
            start = local_datetime(day, form.cleaned_data["time"].replace(second=0, microsecond=0),
                                   connection.tenant.tzinfo)
            try:
                booking_day_check(day=day, now=clock.now())
                booking_reschedule(booking=booking, start=start, now=clock.now())
            except DomainError as refusal:
                self.message_user(request, "Not moved: " + booking_refusal_for_owner(refusal, service=booking.service,
                                                                                     day=day), messages.ERROR)
            else:
                booking.refresh_from_db()
                texted = " The customer is texted the new time." if business_texts_customers() else ""
                self.message_user(request, f"Moved to {booking_title(booking)}.{texted}", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_booking_change", args=[booking.pk]))

    @admin.display(description="History")
    def history(self, booking):
        from bookings.selectors import booking_history

        return format_html_join(mark_safe("<br>"), "{}: {}", ((local_time_text(when), sentence)
                                                               for when, sentence in booking_history(booking=booking)))

    @admin.display(description="When", ordering="start")
    def when(self, booking):
        if booking.pk is None:
            return "—"
        local = timezone.localtime(booking.start)
        return (f"{local:%a} {local.day} {local:%b %Y}, {tenant_clock_text(local.time())}–"
                f"{tenant_clock_text(timezone.localtime(booking.end).time())}")

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
        """Asks first: a page listing the bookings, the reason, and what the customers are told;
        only its confirmation cancels."""
        form = BookingCancelForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            cancelled = len(bookings_cancel(booking_ids=list(queryset.values_list("pk", flat=True)), now=clock.now(),
                                            reason=form.cleaned_data["reason"].strip()))
            self.message_user(request, f"Cancelled {cancelled} booking{'s' if cancelled != 1 else ''}.", messages.SUCCESS)
            return None
        bookings = list(queryset.filter(status=Booking.Status.CONFIRMED).select_related("service").order_by("start"))
        if not bookings:
            self.message_user(request, "None of the selected bookings is confirmed; nothing to cancel.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Cancel {len(bookings)} booking{'s' if len(bookings) != 1 else ''}?",
            "subtitle": None,
            "bookings": [booking_title(booking) for booking in bookings],
            "selected": [booking.pk for booking in bookings],
            "form": form,
            "texts_customers": business_texts_customers(),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_cancel_confirm.html", context)

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
            "slot_interval": (BookingPolicy.objects.order_by("pk").first() or BookingPolicy()).slot_interval_minutes,
            "day_list_url": reverse(f"{self.admin_site.name}:bookings_booking_changelist")
            + f"?start__year={day.year}&start__month={day.month}&start__day={day.day}",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/booking_day.html", context)
