import datetime as dt
import re
import threading
import time
import zoneinfo

from django.conf import settings
from django.db.models.signals import post_save
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name

from core.errors import DomainError
from core.phone import InvalidPhoneNumber, normalize_phone_number
from core.phrasing import clock_text
from tenants.models import Domain, PhoneNumber, Tenant


def tenant_for_called_number(*, called_number: str) -> Tenant | None:
    """The tenant whose agent answers `called_number`, in any format the trunk sends it."""
    try:
        number = normalize_phone_number(called_number)
    except InvalidPhoneNumber:
        return None
    phone_number = PhoneNumber.objects.select_related("tenant").filter(number=number).first()
    return phone_number.tenant if phone_number else None


def phone_number_registered(number: str) -> bool:
    """Whether Soniq answers `number` (E.164) for any business: the platform's registry."""
    return PhoneNumber.objects.filter(number=number).exists()


def customer_phone_number(raw) -> str:
    """The E.164 form of the number a customer gave for a booking or an order, read in the current
    tenant's country. Raises `DomainError("invalid_phone")` with a sentence the agent can say."""
    try:
        return normalize_phone_number(raw if isinstance(raw, str) else "", default_region=tenant_phone_region())
    except InvalidPhoneNumber:
        raise DomainError("invalid_phone", _("I didn't catch a valid phone number; could you say it again, digit by digit?"),
                          details={"field": "customer_phone"}) from None


def tenant_phone_region() -> str:
    """The country in which the current tenant's callers say phone numbers (`Tenant.country`): what
    a number without a country code is read as."""
    return current_tenant().country


def tenant_currency() -> str:
    """The current tenant's currency: the default of every price and order written in its schema.
    A schema with no tenant (the migration template, its spares) prices in USD until one claims it."""
    from django.db import connection

    tenant = connection.tenant
    if isinstance(tenant, Tenant):
        return tenant.currency
    return Tenant.objects.filter(schema_name=connection.schema_name).values_list("currency", flat=True).first() or "USD"


def tenant_clock_text(moment: dt.datetime | dt.time) -> str:
    """A time as the current business writes it (`3:30 PM` in the US, `15:30` in Germany); an aware
    datetime is first put on the business's clock."""
    tenant = current_tenant()
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(tenant.tzinfo)
    return clock_text(moment, twelve_hour=tenant.twelve_hour_clock)


def tenant_timezone() -> zoneinfo.ZoneInfo:
    """The time zone of the tenant whose schema is active: every local time a caller or owner sees."""
    return current_tenant().tzinfo


def current_tenant() -> Tenant:
    """The Tenant whose schema is active. Under `schema_context(...)` django-tenants activates a
    stand-in that only knows the schema name, so look the real one up then."""
    from django.db import connection

    tenant = connection.tenant
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


# Every tool call names its tenant by schema; looking the tenant up each time is a public-schema
# query on the hot path. Tenants change rarely, so a few seconds of staleness (a renamed time zone
# reaching running calls a little late) is the price for skipping it. Per process, thread-safe.
TENANT_CACHE_SECONDS = 30.0
_tenant_cache: dict[str, tuple[float, Tenant | None]] = {}
_tenant_cache_lock = threading.Lock()


def tenant_for_schema(*, schema_name: str) -> Tenant | None:
    """The tenant whose schema is `schema_name`, or None if there is none (any more)."""
    now = time.monotonic()
    cached = _tenant_cache.get(schema_name)
    if cached is not None and cached[0] > now:
        return cached[1]
    tenant = Tenant.objects.filter(schema_name=schema_name).first()
    with _tenant_cache_lock:
        _tenant_cache[schema_name] = (now + TENANT_CACHE_SECONDS, tenant)
    return tenant


def tenant_cache_clear(**_signal_arguments) -> None:
    with _tenant_cache_lock:
        _tenant_cache.clear()


# A change made in this process (the operator admin, provisioning, a test) is seen at once; other
# processes see it within TENANT_CACHE_SECONDS.
post_save.connect(tenant_cache_clear, sender=Tenant, dispatch_uid="soniq-tenant-cache-save")
HOSTNAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


def hostname_may_get_certificate(*, hostname: str) -> bool:
    """Whether the edge proxy may obtain a TLS certificate for `hostname` (deploy/Caddyfile's
    on-demand TLS): a tenant's domain or an operator host, nothing else. Anyone can point a DNS
    name at the platform and open a TLS handshake with it; approving every name would let them
    spend the platform's certificate-authority rate limits."""
    name = hostname.strip().lower().rstrip(".")
    # Only what a DNS name (IDNs arrive as punycode) can be made of; a NUL would even fail the query.
    if not HOSTNAME_PATTERN.fullmatch(name):
        return False
    if name in settings.OPERATOR_HOSTS:
        return True
    return Domain.objects.filter(domain=name).exclude(tenant__schema_name=get_public_schema_name()).exists()
