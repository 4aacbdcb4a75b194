import re

from django.conf import settings
from django_tenants.utils import get_public_schema_name

from soniq_site.domain import DomainError
from tenants.models import Domain, PhoneNumber, Tenant
from tenants.phone import InvalidPhoneNumber, normalize_phone_number


def tenant_for_called_number(*, called_number: str) -> Tenant | None:
    """The tenant whose agent answers `called_number`, in any format the trunk sends it."""
    try:
        number = normalize_phone_number(called_number)
    except InvalidPhoneNumber:
        return None
    phone_number = PhoneNumber.objects.select_related("tenant").filter(number=number).first()
    return phone_number.tenant if phone_number else None


def customer_phone_number(raw) -> str:
    """The E.164 form of the number a customer gave for a booking or an order, read in the current
    tenant's country. Raises `DomainError("invalid_phone")` with a sentence the agent can say."""
    try:
        return normalize_phone_number(raw if isinstance(raw, str) else "", default_region=tenant_phone_region())
    except InvalidPhoneNumber:
        raise DomainError("invalid_phone", "I didn't catch a valid phone number; could you say it again, digit by digit?",
                          details={"field": "customer_phone"}) from None


def tenant_phone_region() -> str:
    """The country in which the current tenant's callers say phone numbers (`Tenant.country`): what
    a number without a country code is read as."""
    return current_tenant().country


def current_tenant() -> Tenant:
    """The Tenant whose schema is active. Under `schema_context(...)` django-tenants activates a
    stand-in that only knows the schema name, so look the real one up then."""
    from django.db import connection

    tenant = connection.tenant
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


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
