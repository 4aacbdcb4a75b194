"""`GET /internal/tls/ask?domain=...` on the public host: the edge proxy (Caddy, deploy/Caddyfile) asks
before it obtains a certificate on demand. 200 approves; anything else refuses.

Only the proxy may ask (issue 29, item 9): otherwise the endpoint tells anyone which names are
tenants. The proxy proves it with TLS_ASK_SECRET in its ask URL (`?secret=`, the Caddyfile's
`SONIQ_TLS_ASK_SECRET`); with no secret configured only loopback may ask (a development machine
where Caddy and Django share a host). Each address may ask TLS_ASK_RATE_PER_MINUTE times a minute,
and every answer, to every method, is JSON."""
from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tenants.selectors import hostname_may_get_certificate

# Longest DNS name (253) plus a trailing dot.
HOSTNAME_MAX_LENGTH = 254


def _refusal(status: int, code: str, message: str, **details) -> JsonResponse:
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return JsonResponse({"ok": False, "error": error}, status=status)


def _from_the_proxy(request) -> bool:
    secret = settings.TLS_ASK_SECRET
    if secret:
        given = request.GET.get("secret", "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _over_the_rate(request) -> bool:
    # The connection's address, not X-Forwarded-For: the proxy talks to us directly.
    key = f"tls-ask-rate:{request.META.get('REMOTE_ADDR', '')}"
    cache.add(key, 0, timeout=60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        count = 1
    return count > settings.TLS_ASK_RATE_PER_MINUTE


@csrf_exempt
def tls_ask(request):
    if request.method not in ("GET", "HEAD"):
        response = _refusal(405, "method_not_allowed", "Ask with GET /internal/tls/ask?domain=<host name>.")
        response["Allow"] = "GET, HEAD"
        return response
    if _over_the_rate(request):
        return _refusal(429, "rate_limited", "Too many questions from this address; ask again in a minute.")
    if not _from_the_proxy(request):
        return _refusal(403, "forbidden", "Only the platform's edge proxy may ask this.")
    domain = request.GET.get("domain", "")
    if not domain.strip() or len(domain) > HOSTNAME_MAX_LENGTH:
        return _refusal(400, "invalid_request", "Give the host name as ?domain=, at most 254 characters.", field="domain")
    if not hostname_may_get_certificate(hostname=domain):
        return _refusal(404, "unknown_domain", "That host name is not a Soniq tenant's domain.")
    return JsonResponse({"ok": True, "domain": domain.strip().lower().rstrip(".")})
