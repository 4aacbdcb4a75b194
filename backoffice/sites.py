"""Two admin sites: the operator's on the public host (tenants, numbers, dead letters) and the tenant
owner's on each tenant domain (their agent, calls, bookings, orders). Keeping them apart means a
tenant admin never lists public-schema models and the operator admin never queries tenant tables.

Both sites:
- rate-limit the login (backoffice/login_throttle.py), answering 429 with a clear message;
- send every page with `Cache-Control: no-store` (AdminSite.admin_view wraps each view in
  `never_cache`, the login view has it too; custom views are registered through `admin_view` so they
  get it as well) — admin pages show callers' phone numbers and transcripts.

The tenant site also renders every page in the tenant's time zone: a salon in New York reads and
types its bookings in New York time, whatever the server's zone is.
"""
from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from backoffice.login_throttle import (
    client_address,
    login_failure_record,
    login_failure_window_seconds,
    login_failures_reset,
    login_is_locked,
)
from core import clock


class ThrottledAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, refusing a username+address pair, or an address, after too many failures."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many failed logins from your address. "
                     "For your security, try again in %(minutes)d minutes.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        if username and login_is_locked(username=username, address=address):
            raise ValidationError(
                self.error_messages["throttled"], code="throttled",
                params={"minutes": login_failure_window_seconds() // 60},
            )
        try:
            cleaned_data = super().clean()
        except ValidationError:
            if username:
                login_failure_record(username=username, address=address)
            raise
        login_failures_reset(username=username, address=address)
        return cleaned_data


class ThrottledLoginMixin:
    login_form = ThrottledAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.is_bound and any(
            error.code == "throttled" for error in form.non_field_errors().as_data()
        ):
            response.status_code = 429
        return response


class OperatorAdminSite(ThrottledLoginMixin, AdminSite):
    site_url = None
    site_header = "Soniq operator"
    site_title = "Soniq operator"
    index_title = "Platform"
    index_template = "admin/soniq/operator_index.html"

    def index(self, request, extra_context=None):
        from backoffice.dashboard import operator_overview

        context = {"overview": operator_overview(now=clock.now()), **(extra_context or {})}
        return super().index(request, context)


class TenantAdminSite(ThrottledLoginMixin, AdminSite):
    site_url = None
    site_header = "Soniq"
    site_title = "Soniq"
    index_title = "How your phone line is doing"
    index_template = "admin/soniq/tenant_index.html"

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(connection, "tenant", None)
        if tenant is not None and getattr(tenant, "name", None):
            context["site_header"] = tenant.name
            context["site_title"] = f"{tenant.name} · Soniq"
            context["tenant_timezone"] = tenant.timezone
        return context

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def in_tenant_timezone(request, *args, **kwargs):
            with timezone.override(getattr(connection.tenant, "tzinfo", None) or dt.UTC):
                response = inner(request, *args, **kwargs)
                # TemplateResponses render after the view returns; render here, inside the
                # override, so dates in the page are in the tenant's zone too.
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
            return response

        return in_tenant_timezone

    def index(self, request, extra_context=None):
        from backoffice.charts import tenant_home_charts
        from backoffice.dashboard import tenant_home_summary

        # Each panel shows only data the user may read in its list (issue 29, item 7): a staff user in
        # no group sees the page, not the calls, callers, bookings or orders behind it.
        user = request.user
        can = {"calls": user.has_perm("calls.view_call"), "bookings": user.has_perm("bookings.view_booking"),
               "orders": user.has_perm("orders.view_order"),
               "callbacks": user.has_perm("calls.view_callbackrequest"),
               "sms": user.has_perm("messaging.view_smsmessage")}
        summary = tenant_home_summary(now=clock.now(), tz=connection.tenant.tzinfo)
        if not can["calls"]:
            summary.recent_calls, summary.outcomes = [], []
        context = {"summary": summary, "can": can, "charts": tenant_home_charts(summary) if can["calls"] else {},
                   **(extra_context or {})}
        return super().index(request, context)


operator_admin_site = OperatorAdminSite(name="operator_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")
