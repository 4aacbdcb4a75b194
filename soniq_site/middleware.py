"""Host and header rules that apply to whole URL spaces rather than to one view.

- The operator admin answers only on OPERATOR_HOSTS. Any host that is not a tenant's domain falls
  back to the public schema (that is how the voice worker reaches the internal API at web:8000), so
  without this rule `evil.salon.localhost` or a typo'd domain would show the operator login.
- Every internal API response is `Cache-Control: no-store`: call start returns a call token and the
  tools return callers' details; no proxy or client cache may keep them.
- On the internal API a domain action's follow-ups (texts, emails, webhooks, calendar events) run
  after the response is sent (core/after_response.py): a caller on the line waits on those requests.
  Not in the admin: an owner's page gains nothing from it, and its tests would have to wait for them.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from core.after_response import respond_then_follow_up

OPERATOR_ADMIN_PREFIX = "/admin/"
INTERNAL_API_PREFIX = "/internal/"


def request_hostname(request: HttpRequest) -> str:
    """The Host without port, lowercased and without a trailing dot (hosts are case-insensitive)."""
    host = request.get_host()
    if host.startswith("["):  # [::1]:8000
        host = host[: host.index("]") + 1]
    else:
        host = host.rsplit(":", 1)[0]
    return host.lower().rstrip(".")


def on_public_host(request: HttpRequest) -> bool:
    # The tenant middleware routes every non-tenant host to the public URLs by setting this.
    return getattr(request, "urlconf", None) == settings.PUBLIC_SCHEMA_URLCONF


class OperatorHostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.path_info.startswith(OPERATOR_ADMIN_PREFIX) and on_public_host(request)
                and request_hostname(request) not in settings.OPERATOR_HOSTS):
            raise Http404("No admin on this host.")
        return self.get_response(request)


class InternalAPINoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info.startswith(INTERNAL_API_PREFIX) and on_public_host(request):
            add_never_cache_headers(response)
        return response


class AfterResponseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(INTERNAL_API_PREFIX) and on_public_host(request):
            return respond_then_follow_up(self.get_response, request)
        return self.get_response(request)
