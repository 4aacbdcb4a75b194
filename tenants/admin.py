from django.contrib import admin

from soniq_site.admin_sites import operator_admin_site
from tenants.models import Domain, IngestionDeadLetter, PhoneNumber, Tenant


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0


@admin.register(Tenant, site=operator_admin_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "schema_name", "timezone", "created"]
    search_fields = ["name", "schema_name", "phone_numbers__number", "domains__domain"]
    inlines = [DomainInline, PhoneNumberInline]


@admin.register(PhoneNumber, site=operator_admin_site)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ["number", "tenant", "label"]
    search_fields = ["number"]


@admin.register(IngestionDeadLetter, site=operator_admin_site)
class IngestionDeadLetterAdmin(admin.ModelAdmin):
    list_display = ["tenant", "call_id", "attempts", "created", "replayed_at"]
    readonly_fields = ["tenant", "call_id", "payload", "error", "attempts", "created", "replayed_at"]
