"""`GET /internal/tls/ask?domain=...` on the public host: the edge proxy (Caddy, deploy/Caddyfile) asks
before it obtains a certificate on demand. 200 approves; anything else refuses."""
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from tenants.selectors import hostname_may_get_certificate

# Longest DNS name (253) plus a trailing dot.
HOSTNAME_MAX_LENGTH = 254


@require_GET
def tls_ask(request):
    domain = request.GET.get("domain", "")
    if not domain.strip() or len(domain) > HOSTNAME_MAX_LENGTH:
        return JsonResponse({"ok": False, "error": {
            "code": "invalid_request", "message": "Give the host name as ?domain=, at most 254 characters.",
            "details": {"field": "domain"}}}, status=400)
    if not hostname_may_get_certificate(hostname=domain):
        return JsonResponse({"ok": False, "error": {
            "code": "unknown_domain", "message": "That host name is not a Soniq tenant's domain."}}, status=404)
    return JsonResponse({"ok": True, "domain": domain.strip().lower().rstrip(".")})
