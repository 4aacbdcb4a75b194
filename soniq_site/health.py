"""`GET /healthz` on any host: is the database there, is Redis there; and, for the operator, whether
LiveKit's SIP trunk matched the registry when it was last looked at (tenants/sip_sync.py)."""
import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tenants.sip_sync import sip_health


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure means "not ok"; the message helps the operator
        return f"error: {exc.__class__.__name__}"


def redis_state() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_state(), "redis": redis_state()}
    healthy = all(state == "ok" for state in checks.values())
    # Reported, not counted: drift on the trunk is the operator's to fix, and a 503 would take a
    # healthy web process out of its load balancer. The value is the last recorded check (the
    # database is asked, never LiveKit), so this stays as cheap as the other two.
    sip_trunk = sip_health() if checks["database"] == "ok" else "unknown: the database is down"
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks, "sip_trunk": sip_trunk},
                        status=200 if healthy else 503)
