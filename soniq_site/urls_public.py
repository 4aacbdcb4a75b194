"""URLs on the platform's public host: the operator admin, the internal voice API, the edge proxy's
certificate approval, health."""
from django.urls import include, path

from backoffice.admin.calendars import google_oauth_relay, google_push_notify
from backoffice.sites import operator_admin_site
from soniq_site.health import healthz
from soniq_site.sms_webhook import sms_inbound
from soniq_site.tls_ask import tls_ask

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Before the voice API, whose catch-all answers every other /internal/ path.
    path("internal/tls/ask", tls_ask, name="internal-tls-ask"),
    path("internal/", include("voiceapi.urls")),
    path("admin/", operator_admin_site.urls),
    path("sms/inbound", sms_inbound, name="sms-inbound"),
    # Google Calendar: the one OAuth redirect URI (relayed to the tenant's domain) and push notifications.
    path("calendars/google/callback", google_oauth_relay, name="calendars-google-callback"),
    path("calendars/google/notify", google_push_notify, name="calendars-google-notify"),
]
