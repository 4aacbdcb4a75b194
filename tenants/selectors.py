from tenants.models import PhoneNumber, Tenant
from tenants.phone import InvalidPhoneNumber, normalize_phone_number


def tenant_for_called_number(*, called_number: str) -> Tenant | None:
    """The tenant whose agent answers `called_number`, in any format the trunk sends it."""
    try:
        number = normalize_phone_number(called_number)
    except InvalidPhoneNumber:
        return None
    phone_number = PhoneNumber.objects.select_related("tenant").filter(number=number).first()
    return phone_number.tenant if phone_number else None


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
