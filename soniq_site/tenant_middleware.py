"""django-tenants' host → tenant middleware, without a database query per request on the public host.

Every request to the platform's public host (the voice worker's internal API, /healthz) used to look
its hostname up in the Domain table, miss, and fall back to the public schema: one query per tool
call that always answers the same. Misses are remembered per process for a few seconds; tenant
domains are still looked up on every request, so a tenant's admin always lands in the right schema.

A Domain saved or deleted in this process forgets the misses at once; another process (a management
command provisioning a tenant) is seen within PUBLIC_HOST_CACHE_SECONDS. That only matters for a
hostname that was requested *before* it became a tenant's domain.
"""
from __future__ import annotations

import threading
import time

from django.db.models.signals import post_delete, post_save
from django_tenants.middleware.main import TenantMainMiddleware as BaseTenantMainMiddleware

from tenants.models import Domain

PUBLIC_HOST_CACHE_SECONDS = 10.0
_public_hosts: dict[str, float] = {}
_lock = threading.Lock()


def public_host_cache_clear(**_kwargs) -> None:
    with _lock:
        _public_hosts.clear()


post_save.connect(public_host_cache_clear, sender=Domain, dispatch_uid="soniq-public-host-cache-save")
post_delete.connect(public_host_cache_clear, sender=Domain, dispatch_uid="soniq-public-host-cache-delete")


class TenantMainMiddleware(BaseTenantMainMiddleware):
    @staticmethod
    def hostname_from_request(request):
        # Host names are case-insensitive and may end in a dot; Domain rows are stored lowercased.
        # Without this, `SALON.LOCALHOST` missed the salon and fell through to the public host.
        return BaseTenantMainMiddleware.hostname_from_request(request).lower().rstrip(".")

    def get_tenant(self, domain_model, hostname):
        expires = _public_hosts.get(hostname)
        if expires is not None and expires > time.monotonic():
            raise domain_model.DoesNotExist(hostname)
        try:
            return super().get_tenant(domain_model, hostname)
        except domain_model.DoesNotExist:
            with _lock:
                # Bounded: Host headers come from clients; ALLOWED_HOSTS limits them, but be safe.
                if len(_public_hosts) > 1000:
                    _public_hosts.clear()
                _public_hosts[hostname] = time.monotonic() + PUBLIC_HOST_CACHE_SECONDS
            raise
