"""URLs on the platform's public host: the operator admin, the internal voice API, the edge proxy's
certificate approval, health."""
from django.urls import include, path

from soniq_site.admin_sites import operator_admin_site
from soniq_site.health import healthz
from tenants.views import tls_ask

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Before the voice API, whose catch-all answers every other /internal/ path.
    path("internal/tls/ask", tls_ask, name="internal-tls-ask"),
    path("internal/", include("calls.urls_internal")),
    path("admin/", operator_admin_site.urls),
]
