"""Every ModelAdmin of both admin sites. Django's autodiscovery imports `backoffice.admin`; the domains
have no admin modules of their own, so they never import the back office."""
from backoffice.admin import (  # noqa: F401 - registers the admins
    agent,
    bookings,
    calendars,
    calls,
    notifications,
    orders,
    scenarios,
    tenants,
    webhooks,
)
