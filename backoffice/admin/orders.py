"""The tenant admin for the ordering side: the menu, the ordering rules, and the orders with their
kitchen status (new → preparing → ready → done, or cancelled), moved on with one click."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from backoffice.helpers import (
    PhoneDataReadOnlyMixin,
    PriceCurrencyFormMixin,
    SingleRowAdminMixin,
    csv_export_action,
    local_time_text,
    phone_text,
    unique_name_or_error,
)
from backoffice.sites import tenant_admin_site
from core.errors import DomainError
from orders.models import MenuItem, Order, OrderingPolicy, OrderLine
from orders.status import ORDER_STATUS_ACTIONS, order_next_statuses, order_status_change


class MenuItemForm(PriceCurrencyFormMixin, forms.ModelForm):
    class Meta:
        model = MenuItem
        fields = ["name", "category", "description", "aliases", "price", "available"]
        help_texts = {
            "aliases": "Other names callers use, separated by commas (e.g. coke, cola).",
            "available": "Untick when it is sold out: the agent stops offering it.",
        }

    def clean_name(self):
        return unique_name_or_error(model=MenuItem, name=self.cleaned_data["name"], instance=self.instance,
                                    what="a menu item")




@admin.register(MenuItem, site=tenant_admin_site)
class MenuItemAdmin(admin.ModelAdmin):
    form = MenuItemForm
    list_display = ["name", "category", "price", "available"]
    list_editable = ["available"]
    list_filter = ["available", "category"]
    search_fields = ["name", "aliases", "category"]

    def has_delete_permission(self, request, obj=None):
        # Order lines point at menu items (PROTECT); a sold-out or retired item is unticked instead.
        if obj is not None and obj.order_lines.exists():
            return False
        return super().has_delete_permission(request, obj)


class OrderingPolicyForm(forms.ModelForm):
    class Meta:
        model = OrderingPolicy
        fields = ["prep_minutes", "delivery_minutes", "delivery_available"]

    def clean_prep_minutes(self):
        value = self.cleaned_data["prep_minutes"]
        low, high = OrderingPolicy.PREP_MINUTES_RANGE
        if not low <= value <= high:
            raise ValidationError(f"Preparation time must be from {low} to {high} minutes.")
        return value

    def clean_delivery_minutes(self):
        value = self.cleaned_data["delivery_minutes"]
        low, high = OrderingPolicy.DELIVERY_MINUTES_RANGE
        if not low <= value <= high:
            raise ValidationError(f"Delivery time can be at most {high} minutes.")
        return value


@admin.register(OrderingPolicy, site=tenant_admin_site)
class OrderingPolicyAdmin(SingleRowAdminMixin, admin.ModelAdmin):
    form = OrderingPolicyForm


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ["quantity", "name", "unit_price", "line_total", "notes"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class KitchenStatusFilter(admin.SimpleListFilter):
    """Open orders (new, preparing, ready) by default: that is what the kitchen works from."""

    title = "status"
    parameter_name = "kitchen"
    OPEN = (Order.Status.NEW, Order.Status.PREPARING, Order.Status.READY)

    def lookups(self, request, model_admin):
        return [("open", "Open (new, preparing, ready)"), *Order.Status.choices, ("all", "All")]

    def value(self):
        return super().value() or "open"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(status__in=self.OPEN)
        if value in Order.Status.values:
            return queryset.filter(status=value)
        return queryset


@admin.register(Order, site=tenant_admin_site)
class OrderAdmin(PhoneDataReadOnlyMixin, admin.ModelAdmin):
    change_form_template = "admin/soniq/order_change_form.html"
    list_display = ["number", "placed", "customer", "fulfillment", "items", "total_text", "status_badge", "next_step"]
    list_display_links = ["number", "placed"]
    list_filter = [KitchenStatusFilter, "fulfillment", ("created", admin.DateFieldListFilter)]
    list_per_page = 50
    search_fields = ["customer_name", "customer_phone", "delivery_address", "lines__name"]
    date_hierarchy = "created"
    inlines = [OrderLineInline]
    actions = ["mark_preparing", "mark_ready", "mark_done", "mark_cancelled", csv_export_action(name="orders", columns=[
        ("Order", lambda order: order.pk), ("Placed", lambda order: order.created),
        ("Status", lambda order: order.get_status_display()), ("Fulfillment", lambda order: order.get_fulfillment_display()),
        ("Customer", lambda order: order.customer_name), ("Phone", lambda order: order.customer_phone),
        ("Delivery address", lambda order: order.delivery_address),
        ("Items", lambda order: "; ".join(f"{line.quantity} x {line.name}" for line in order.lines.all())),
        ("Total", lambda order: order.total), ("Currency", lambda order: order.currency), ("Notes", lambda order: order.notes),
    ])]
    fields = ["status", "fulfillment", "customer_name", "customer_phone", "delivery_address", "notes", "total",
              "currency", "estimated_ready_at", "call_link", "created", "updated"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines")

    change_list_template = "admin/soniq/order_change_list.html"
    # How often the kitchen's list asks whether a new order came in (and then reloads, chiming if the
    # kitchen turned the chime on).
    kitchen_poll_seconds = 15

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {
            "title": "Orders", "latest_order_url": reverse(f"{self.admin_site.name}:orders_order_latest"),
            "latest_order": Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "kitchen_poll_ms": int(self.kitchen_poll_seconds * 1000), **(extra_context or {})})

    def latest_view(self, request):
        """What the kitchen's list polls: the newest order's number and how many are open."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse({
            "latest": Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "open": Order.objects.filter(status__in=KitchenStatusFilter.OPEN).count(),
        })

    # Read-only (the mixin): what the caller ordered is a record; only the status moves, through
    # the buttons below.

    def get_urls(self):
        return [
            path("<int:order_id>/status/<str:status>/", self.admin_site.admin_view(self.status_view),
                 name="orders_order_status"),
            path("latest/", self.admin_site.admin_view(self.latest_view), name="orders_order_latest"),
            *super().get_urls(),
        ]

    # --- list columns ---

    @admin.display(description="Order", ordering="pk")
    def number(self, order):
        return f"#{order.pk}"

    @admin.display(description="Placed", ordering="created")
    def placed(self, order):
        return local_time_text(order.created)

    @admin.display(description="Customer", ordering="customer_name")
    def customer(self, order):
        return format_html('{}<br><span class="soniq-quiet">{}</span>', order.customer_name, phone_text(order.customer_phone))

    @admin.display(description="Items")
    def items(self, order):
        return ", ".join(f"{line.quantity}× {line.name}" for line in order.lines.all())

    @admin.display(description="Total", ordering="total")
    def total_text(self, order):
        return f"{order.total} {order.currency}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, order):
        return format_html('<span class="soniq-badge soniq-{}">{}</span>', order.status, order.get_status_display())

    @admin.display(description="Next")
    def next_step(self, order):
        # `formaction` buttons post the changelist's own form (which carries the CSRF token) to the
        # status URL: one click, and no form nested inside the changelist form.
        forward = [status for status in order_next_statuses(status=order.status) if status != Order.Status.CANCELLED]
        return format_html_join(" ", '<button type="submit" class="button soniq-step" formaction="{}">{}</button>', (
            (self._status_url(order, status), ORDER_STATUS_ACTIONS[status]) for status in forward
        )) or "—"

    @admin.display(description="Call")
    def call_link(self, order):
        if order.call_id is None:
            return "—"
        url = reverse(f"{self.admin_site.name}:calls_call_change", args=[order.call_id])
        return format_html('<a href="{}">{}</a>', url, local_time_text(order.call.started_at))

    def _status_url(self, order, status):
        return reverse(f"{self.admin_site.name}:orders_order_status", args=[order.pk, status])

    # --- status changes ---

    def _change_status(self, request, order_id: int, status: str) -> bool:
        try:
            order = order_status_change(order_id=order_id, status=status)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return False
        self.message_user(request, f"Order #{order.pk} is now {order.get_status_display().lower()}.", messages.SUCCESS)
        return True

    def status_view(self, request, order_id: int, status: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        self._change_status(request, order_id, status)
        next_url = request.POST.get("next") or request.GET.get("next")
        if not next_url or not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
            next_url = request.META.get("HTTP_REFERER") or ""
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
                next_url = reverse(f"{self.admin_site.name}:orders_order_changelist")
        return HttpResponseRedirect(next_url)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        buttons = []
        if order is not None and request.user.has_perm("orders.change_order"):
            buttons = [
                {"url": self._status_url(order, status), "label": ORDER_STATUS_ACTIONS[status],
                 "danger": status == Order.Status.CANCELLED}
                for status in order_next_statuses(status=order.status)
            ]
        context = {"status_buttons": buttons, "order": order, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def _bulk(self, request, queryset, status):
        changed = sum(self._change_status(request, order.pk, status) for order in queryset.order_by("pk"))
        return changed

    @admin.action(description="Mark selected orders as preparing")
    def mark_preparing(self, request, queryset):
        self._bulk(request, queryset, Order.Status.PREPARING)

    @admin.action(description="Mark selected orders as ready")
    def mark_ready(self, request, queryset):
        self._bulk(request, queryset, Order.Status.READY)

    @admin.action(description="Mark selected orders as done")
    def mark_done(self, request, queryset):
        self._bulk(request, queryset, Order.Status.DONE)

    @admin.action(description="Cancel selected orders")
    def mark_cancelled(self, request, queryset):
        self._bulk(request, queryset, Order.Status.CANCELLED)
