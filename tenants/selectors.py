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
