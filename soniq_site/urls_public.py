"""URLs on the platform's public host: the operator admin, the internal voice API, health."""
from django.urls import include, path

from backoffice.sites import operator_admin_site
from soniq_site.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("internal/", include("voiceapi.urls")),
    path("admin/", operator_admin_site.urls),
]
