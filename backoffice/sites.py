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

    # The sections only a business that takes bookings, or orders, uses (AgentSettings.capabilities).
    BOOKING_MODELS = {("bookings", "booking"), ("bookings", "service"), ("bookings", "bookingpolicy")}
    ORDER_MODELS = {("orders", "order"), ("orders", "menuitem"), ("orders", "orderingpolicy")}

    def get_urls(self):
        from django.contrib.auth import views as auth_views
        from django.urls import path, reverse_lazy

        from backoffice.operator import support_login_view
        from backoffice.team import TeamViews

        team = TeamViews(self)
        return [
            path("team/", self.admin_view(team.list_view), name="team"),
            path("team/add/", self.admin_view(team.add_view), name="team_add"),
            path("team/<int:user_id>/", self.admin_view(team.change_view), name="team_change"),
            # Where the link a new team member (or a new business's owner) is emailed leads: no
            # login needed, the token is the proof. Django's own views and admin templates.
            path("password/set/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
                success_url=reverse_lazy(f"{self.name}:password_set_done"), extra_context={"site_header": "Soniq"},
            ), name="password_set"),
            path("support-login/<str:token>/", support_login_view, name="support_login"),
            path("password/set/done/", auth_views.PasswordResetCompleteView.as_view(
                extra_context={"login_url": reverse_lazy(f"{self.name}:login")}), name="password_set_done"),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        """The index and the sidebar list only what the business uses: a salon sees no Orders or
        Menu items, a pizzeria no Bookings or Services. The pages stay reachable by address (an
        owner who switches in the agent settings finds their data again). "Team" stands where
        Django's Users and Groups would."""
        from django.urls import reverse

        from tenants.agent.selectors import business_capabilities

        capabilities = business_capabilities()
        hidden = (set() if capabilities.takes_bookings else self.BOOKING_MODELS) | (
            set() if capabilities.takes_orders else self.ORDER_MODELS)
        app_list = []
        for app in super().get_app_list(request, app_label):
            app["models"] = [model for model in app["models"]
                             if (app["app_label"], model["object_name"].lower()) not in hidden]
            if app["models"]:
                app_list.append(app)
        if app_label is None and request.user.has_perm("auth.view_user"):
            url = reverse(f"{self.name}:team")
            app_list.append({"name": "Team", "app_label": "team", "app_url": url, "has_module_perms": True,
                             "models": [{"name": "Team", "object_name": "TeamMember", "admin_url": url,
                                         "add_url": reverse(f"{self.name}:team_add")
                                         if request.user.has_perm("auth.add_user") else None,
                                         "view_only": not request.user.has_perm("auth.change_user"),
                                         "perms": {}}]})
        return app_list

    def index(self, request, extra_context=None):
        from backoffice.charts import tenant_home_charts
        from backoffice.dashboard import setup_checklist, tenant_home_summary
        from calls.summaries.services import summaries_configured

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
        # The checklist is the owner's to-do list (settings pages a user in no group cannot open): shown
        # only to whoever may change the agent's settings.
        setup = (setup_checklist(tenant=connection.tenant, site_name=self.name)
                 if user.has_perm("agent.change_agentsettings") else [])
        context = {"summary": summary, "can": can, "charts": tenant_home_charts(summary) if can["calls"] else {},
                   "summaries_on": summaries_configured(),
                   "setup": setup if not all(step.done for step in setup) else None,
                   "setup_done": sum(step.done for step in setup), **(extra_context or {})}
        return super().index(request, context)


operator_admin_site = OperatorAdminSite(name="operator_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")
