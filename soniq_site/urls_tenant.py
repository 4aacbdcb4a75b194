"""URLs on a tenant's own domain: the tenant owner's admin and health."""
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice import talk
from backoffice.sites import tenant_admin_site
from soniq_site.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # "Talk to your agent" (backoffice/talk.py), before the admin's own catch-all routes.
    path("admin/try/", include(talk.urls())),
    path("admin/", tenant_admin_site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
