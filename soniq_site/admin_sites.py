"""Two admin sites: the operator's on the public host (tenants, numbers, dead letters) and the tenant
owner's on each tenant domain (their agent, calls, bookings, orders). Keeping them apart means a
tenant admin never lists public-schema models and the operator admin never queries tenant tables."""
from django.contrib.admin import AdminSite


class OperatorAdminSite(AdminSite):
    site_header = "Soniq operator"
    site_title = "Soniq operator"
    index_title = "Platform"


class TenantAdminSite(AdminSite):
    site_header = "Soniq"
    site_title = "Soniq"
    index_title = "Your phone agent"


operator_admin_site = OperatorAdminSite(name="operator_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")
