"""The operator admin (public host): tenants with their domains and numbers, provisioning a tenant
from a spec, per-tenant usage for a month, and the call-log ingestion dead letters."""
from __future__ import annotations

import datetime as dt
import json

import yaml
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.text import Truncator
from django_tenants.utils import schema_context

from backoffice.dashboard import tenant_usage_for_month
from backoffice.operator import NewBusinessForm, support_login_link
from backoffice.sites import operator_admin_site
from backoffice.team import set_password_link_send
from calls.log_storage import ingestion_dead_letter_replay
from core import clock
from notifications.selectors import followups_failed_since
from provisioning.services import TenantSpecError, prices_in_tenant_currency, tenant_delete, tenant_provision
from provisioning.spec import tenant_spec_parse
from tenants.models import Domain, IngestionDeadLetter, PhoneNumber, Tenant
from tenants.sip_requests import sip_sync_request
from tenants.sip_sync import sip_health, sip_sync_enabled, sip_trunk_status

SPEC_EXAMPLE = """slug: barbers
name: Sharp Barbers
domain: barbers.localhost
timezone: Europe/London
country: GB
currency: GBP
capabilities: bookings
phone_numbers: ["020 7946 0001"]
owner: {email: owner@barbers.example}  # they get a link to choose their password
agent:
  greeting: "Sharp Barbers, how can I help?"
hours:
  mon: [["09:00", "18:00"]]
services:
  - {name: Haircut, duration_minutes: 30, capacity: 3, price: "25.00"}
"""


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.display(description="Phone line")
def phone_line(number: PhoneNumber) -> str:
    """Whether LiveKit's trunk carries the number, as the last sync or check found."""
    if number.pk is None:
        return ""
    if not sip_sync_enabled():
        return "not managed by Soniq (LiveKit SIP settings unset)"
    if number.sip_status == PhoneNumber.SipStatus.NOT_LIVE:
        return f"not live: {number.sip_error}"
    return number.get_sip_status_display()


def _sip_sync_after_admin_change(*, changed_numbers: list[str] = ()) -> None:
    """An admin form added, renumbered or removed numbers: LiveKit follows after the commit."""
    PhoneNumber.objects.filter(number__in=changed_numbers).update(
        sip_status=PhoneNumber.SipStatus.PENDING, sip_error="", sip_checked_at=None)
    sip_sync_request()


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0
    fields = ["number", "label", phone_line]
    readonly_fields = [phone_line]


class ProvisionForm(forms.Form):
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 22, "cols": 90, "spellcheck": "false", "class": "soniq-code"}),
        help_text="A tenant spec in YAML or JSON, the same format as `manage.py provision_tenant` (see demo/salon.yaml). "
                  "An existing slug is updated to match the spec; provisioning the same spec twice changes nothing.",
    )

    def clean_spec(self):
        text = self.cleaned_data["spec"]
        try:
            # YAML is a superset of JSON, but JSON errors read better from the JSON parser.
            parsed = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise forms.ValidationError(f"This is not valid YAML or JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError("The spec must be a mapping (slug: …, name: …, …).")
        # The same typed spec as `manage.py provision_tenant`; what needs the database (a number or
        # domain another tenant owns) is checked when it is provisioned.
        try:
            return tenant_spec_parse(parsed)
        except TenantSpecError as error:
            raise forms.ValidationError(f"{error.field}: {error.message}") from None


@admin.register(Tenant, site=operator_admin_site)
class TenantAdmin(admin.ModelAdmin):
    change_list_template = "admin/soniq/tenant_change_list.html"
    list_display = ["name", "schema_name", "domain_list", "number_list", "failed_followups", "timezone", "country",
                    "currency", "created"]
    search_fields = ["name", "schema_name", "phone_numbers__number", "domains__domain"]
    inlines = [DomainInline, PhoneNumberInline]
    readonly_fields = ["schema_name", "created"]
    fields = ["name", "schema_name", "timezone", "country", "currency", "created"]
    actions = None  # the bulk delete would skip dropping schemas; delete one tenant at a time

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public").prefetch_related("domains", "phone_numbers")

    def get_urls(self):
        return [
            path("provision/", self.admin_site.admin_view(self.provision_view), name="tenants_tenant_provision"),
            path("new/", self.admin_site.admin_view(self.new_business_view), name="tenants_tenant_new"),
            path("<int:tenant_id>/log-in-as-owner/", self.admin_site.admin_view(self.owner_login_view),
                 name="tenants_tenant_owner_login"),
            path("usage/", self.admin_site.admin_view(self.usage_view), name="tenants_tenant_usage"),
            *super().get_urls(),
        ]

    @admin.display(description="Domains")
    def domain_list(self, tenant):
        return format_html_join(", ", '<a href="http://{}/admin/">{}</a>',
                                ((domain.domain, domain.domain) for domain in tenant.domains.all()))

    @admin.display(description="Failed follow-ups (7 days)")
    def failed_followups(self, tenant):
        """Emails, staff texts and webhooks that failed for good: the owner sees each in their admin,
        the operator sees here which businesses are not hearing of their calls."""
        with schema_context(tenant.schema_name):
            failed = followups_failed_since(since=clock.now() - dt.timedelta(days=7))
        return failed or "—"

    @admin.display(description="Numbers")
    def number_list(self, tenant):
        managed = sip_sync_enabled()
        return ", ".join(number.number + (f" ({number.get_sip_status_display()})"
                                          if managed and number.sip_status != PhoneNumber.SipStatus.LIVE else "")
                         for number in tenant.phone_numbers.all()) or "—"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "currency" in form.changed_data:
            with schema_context(obj.schema_name):
                prices_in_tenant_currency()

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is PhoneNumber and (formset.new_objects or formset.changed_objects or formset.deleted_objects):
            _sip_sync_after_admin_change(changed_numbers=[
                number.number for number, fields in formset.changed_objects if "number" in fields])

    def changelist_view(self, request, extra_context=None):
        _sip_trunk_message(self, request)
        return super().changelist_view(request, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        # A tenant is more than a row (schema, domain, numbers, owner, agent): it is provisioned.
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:tenants_tenant_new"))

    def new_business_view(self, request):
        """The form an operator fills for a new business: the same spec as YAML underneath, and an
        email to the owner with a link to choose their password."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewBusinessForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = tenant_provision(spec=form.spec())
            except TenantSpecError as error:
                form.add_error(None, f"{error.field}: {error.message}")
            else:
                if result.owner_created is not None:
                    owner, tenant = result.owner_created, result.tenant
                    domain = form.cleaned_data["domain"].strip().lower()
                    transaction.on_commit(lambda: set_password_link_send(user=owner, domain=domain, business=tenant.name))
                self.message_user(request, f"Created {result.tenant.name}. {form.cleaned_data['owner_email']} got an "
                                           "email with a link to choose their password.", messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:tenants_tenant_change",
                                                    args=[result.tenant.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "New business",
                   "form": form, "yaml_url": reverse(f"{self.admin_site.name}:tenants_tenant_provision")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/tenant_new.html", context)

    def owner_login_view(self, request, tenant_id: int):
        """Support: log in to the business's admin as its owner. Recorded where the owner sees it."""
        if request.method != "POST" or not request.user.is_superuser:
            raise PermissionDenied
        tenant = Tenant.objects.exclude(schema_name="public").filter(pk=tenant_id).first()
        reason = " ".join(request.POST.get("reason", "").split())[:300]
        if tenant is None or not reason:
            self.message_user(request, "Say why you log in as the owner: they see it in their admin.", messages.ERROR)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:tenants_tenant_change", args=[tenant_id]))
        return HttpResponseRedirect(support_login_link(operator=request.user.username, tenant=tenant, reason=reason))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"owner_login_url": reverse(f"{self.admin_site.name}:tenants_tenant_owner_login", args=[object_id]),
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def delete_model(self, request, obj):
        tenant_delete(tenant=obj)

    def provision_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        result = None
        if request.method == "POST":
            form = ProvisionForm(request.POST)
            if form.is_valid():
                try:
                    result = tenant_provision(spec=form.cleaned_data["spec"])
                except TenantSpecError as error:
                    form.add_error("spec", f"{error.field}: {error.message}")
                else:
                    owner = result.owner_created
                    if owner is not None and not owner.has_usable_password():
                        domain = result.tenant.domains.filter(is_primary=True).values_list("domain", flat=True).first()
                        tenant_name = result.tenant.name
                        transaction.on_commit(lambda: set_password_link_send(user=owner, domain=domain,
                                                                             business=tenant_name))
                    verb = "Created" if result.created else "Updated"
                    summary = "; ".join(result.changes) if result.changes else "nothing to change"
                    self.message_user(request, f"{verb} {result.tenant.name} ({result.tenant.schema_name}): {summary}.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse(f"{self.admin_site.name}:tenants_tenant_change", args=[result.tenant.pk])
                    )
        else:
            form = ProvisionForm(initial={"spec": SPEC_EXAMPLE})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Provision a tenant",
            "form": form,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/tenant_provision.html", context)

    def usage_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        this_month = clock.now().date().replace(day=1)
        try:
            month = dt.date.fromisoformat(request.GET.get("month", "") + "-01")
        except ValueError:
            month = this_month
        if not clock.date_in_reach(month, today=this_month):
            # 9999-12 has no next month (a 500): say so, show this month.
            messages.warning(request, f"{month.isoformat()[:7]} is out of range: usage goes back and ahead "
                                      f"{clock.DATE_REACH_DAYS // 366} years. Showing this month instead.")
            month = this_month
        usage = tenant_usage_for_month(month=month)
        previous_month = (month - dt.timedelta(days=1)).replace(day=1)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Usage in {month:%B %Y} (UTC)",
            "usage": usage,
            "month": month,
            "previous_month": previous_month,
            "next_month": next_month if next_month <= this_month else None,
            "totals": {
                "calls": sum(row.calls for row in usage),
                "minutes": sum((row.minutes for row in usage), start=0),
                "tokens": sum(row.tokens for row in usage),
                "bookings": sum(row.bookings for row in usage),
                "orders": sum(row.orders for row in usage),
            },
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/soniq/tenant_usage.html", context)


def _sip_trunk_message(model_admin: admin.ModelAdmin, request) -> None:
    """Above the tenant and number lists: LiveKit's trunk, when it did not match at the last look."""
    health = sip_health()
    if health in ("ok", "off"):
        return
    status = sip_trunk_status()
    when = f" (checked {status.checked_at:%Y-%m-%d %H:%M} UTC)" if status else ""
    model_admin.message_user(request, f"LiveKit SIP trunk: {health.rstrip('.')}{when}. `manage.py sip_sync` repairs it.",
                             messages.WARNING)


@admin.register(PhoneNumber, site=operator_admin_site)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ["number", "tenant", "label", phone_line, "sip_checked_at", "created"]
    list_filter = ["sip_status", "tenant"]
    search_fields = ["number", "tenant__name"]
    fields = ["number", "tenant", "label", phone_line, "sip_checked_at"]
    readonly_fields = [phone_line, "sip_checked_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or "number" in form.changed_data:
            _sip_sync_after_admin_change(changed_numbers=[obj.number])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        sip_sync_request()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        sip_sync_request()

    def changelist_view(self, request, extra_context=None):
        _sip_trunk_message(self, request)
        return super().changelist_view(request, extra_context)


@admin.register(IngestionDeadLetter, site=operator_admin_site)
class IngestionDeadLetterAdmin(admin.ModelAdmin):
    list_display = ["created", "tenant", "call_id", "attempts", "short_error", "replayed_at"]
    list_filter = ["tenant", ("replayed_at", admin.EmptyFieldListFilter)]
    search_fields = ["call_id", "error"]
    readonly_fields = ["tenant", "call_id", "payload", "error", "attempts", "created", "replayed_at"]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Error")
    def short_error(self, dead_letter):
        return Truncator(dead_letter.error.strip().splitlines()[-1] if dead_letter.error.strip() else "").chars(120)

    @admin.action(description="Replay selected call logs")
    def replay(self, request, queryset):

        replayed, failed = 0, []
        for dead_letter in queryset.select_related("tenant"):
            try:
                ingestion_dead_letter_replay(dead_letter=dead_letter)
            except Exception as exc:  # noqa: BLE001 - shown to the operator, one letter must not stop the rest
                failed.append(f"{dead_letter.call_id}: {exc}")
            else:
                replayed += 1
        if replayed:
            self.message_user(request, f"Replayed {replayed} call log{'s' if replayed != 1 else ''}.", messages.SUCCESS)
        for failure in failed:
            self.message_user(request, f"Could not replay {failure}", messages.ERROR)



# Staff accounts: the operator's in the public schema, with Django's own pages. Each tenant's are in
# its schema and managed on its "Team" page (backoffice/team.py): name, email and a role, no password
# hashes or permission lists.
operator_admin_site.register(User, UserAdmin)
operator_admin_site.register(Group, GroupAdmin)
