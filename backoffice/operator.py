"""The operator's support tools: a "New business" form that provisions through the same spec as YAML
and emails the owner a link to choose their password, and "log in as this business's owner", which
the owner sees in their own admin (Support logins)."""
from __future__ import annotations

import zoneinfo
from pathlib import Path

import yaml
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django_tenants.utils import schema_context

from core import clock
from core.phone import InvalidPhoneNumber, is_phone_region, valid_phone_number
from provisioning.spec import SLUG_PATTERN
from tenants.agent.models import SupportLogin

DEMO = Path(settings.BASE_DIR) / "demo"
# What a new business starts from: the demo's hours, services or menu and agent rules, under its
# own name. The owner changes them in their admin.
BUSINESS_TYPES = {"salon": ("Salon (bookings)", DEMO / "salon.yaml"),
                  "restaurant": ("Restaurant or takeaway (orders)", DEMO / "pizzeria.yaml")}
TEMPLATE_KEYS = ("hours", "services", "booking_rules", "menu", "ordering", "capabilities")
SUPPORT_LINK_SECONDS = 60
SUPPORT_SALT = "soniq.support-login"


class NewBusinessForm(forms.Form):
    business_type = forms.ChoiceField(choices=[(key, label) for key, (label, _) in BUSINESS_TYPES.items()])
    name = forms.CharField(max_length=200)
    slug = forms.CharField(max_length=40, help_text="Lowercase letters, digits and underscores; the database "
                                                    "schema's name. It cannot be changed later.")
    domain = forms.CharField(max_length=253, help_text="Where the owner's admin lives, e.g. barbers.soniq.example.")
    timezone = forms.CharField(max_length=64, initial="Europe/London", help_text="An IANA name such as Europe/Berlin.")
    country = forms.CharField(max_length=2, initial="GB", help_text="Two-letter code; phone numbers, the currency "
                                                                    "and the clock follow it.")
    phone_number = forms.CharField(max_length=40, help_text="The number callers ring (with or without the country code).")
    owner_email = forms.EmailField(help_text="They get a link to choose their password; nobody sends passwords.")

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip().lower()
        if not SLUG_PATTERN.match(slug):
            raise forms.ValidationError("2–40 lowercase letters, digits or underscores, starting with a letter.")
        return slug

    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"].strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"{value!r} is not a time zone such as Europe/Berlin.") from None
        return value

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip().upper()
        if not is_phone_region(value):
            raise forms.ValidationError("Use a two-letter country code such as GB, DE or US.")
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("country") and cleaned.get("phone_number"):
            try:
                cleaned["phone_number"] = valid_phone_number(cleaned["phone_number"], default_region=cleaned["country"])
            except InvalidPhoneNumber as invalid:
                self.add_error("phone_number", str(invalid))
        return cleaned

    def spec(self) -> dict:
        """The tenant spec this form describes: the chosen type's template under the business's name."""
        data = self.cleaned_data
        template = yaml.safe_load(BUSINESS_TYPES[data["business_type"]][1].read_text())
        name = data["name"].strip()
        return {
            "slug": data["slug"], "name": name, "domain": data["domain"].strip().lower(), "timezone": data["timezone"],
            "country": data["country"], "phone_numbers": [data["phone_number"]], "owner": {"email": data["owner_email"]},
            "agent": {"greeting": f"Thanks for calling {name}, how can I help?", "language": template["agent"]["language"]},
            **{key: template[key] for key in TEMPLATE_KEYS if key in template},
        }


def support_login_link(*, operator: str, tenant, reason: str) -> str:
    """Record the operator's login as the tenant's owner (the owner sees it) and return the one-time
    link, valid SUPPORT_LINK_SECONDS, that logs them in at the tenant's own domain."""
    domain = tenant.domains.filter(is_primary=True).values_list("domain", flat=True).first()
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if owner is None or domain is None:
            raise PermissionDenied("This business has no active owner account or no domain.")
        audit = SupportLogin.objects.create(operator=operator, owner=owner.username, reason=reason)
    token = signing.dumps({"schema": tenant.schema_name, "user": owner.pk, "audit": audit.pk}, salt=SUPPORT_SALT)
    return f"{settings.SITE_SCHEME}://{domain}/admin/support-login/{token}/"


def support_login_view(request, token: str):
    """On the tenant's domain: the operator's one-time link logs them in as the owner."""
    from django.db import connection

    try:
        claim = signing.loads(token, salt=SUPPORT_SALT, max_age=SUPPORT_LINK_SECONDS)
    except signing.BadSignature:
        return HttpResponseBadRequest("This support link is invalid or has expired; make a new one.")
    if claim.get("schema") != connection.schema_name:
        return HttpResponseBadRequest("This support link is for another business.")
    used = SupportLogin.objects.filter(pk=claim["audit"], used_at__isnull=True).update(used_at=clock.now())
    owner = get_user_model().objects.filter(pk=claim["user"], is_active=True).first()
    if not used or owner is None:
        return HttpResponseBadRequest("This support link was used already; make a new one.")
    login(request, owner, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect("/admin/")
