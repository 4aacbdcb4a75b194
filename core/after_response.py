"""Work a caller need not wait for, run once the response has been sent.

A booking made by phone is followed by the owner's email, the customer's text, the webhook event and
the calendars' event: about a dozen round trips to PostgreSQL that the caller, hearing silence on
the line, would otherwise wait for (issue 28: create_booking was 4.3x the trivial endpoint, and
those round trips were 11 of its 26). The services register their one follow-up function with
`followup_after_commit`: it runs when the write commits, as before (nothing goes out for a write
that rolls back) — but inside a request of the internal API (`respond_then_follow_up`), it runs after the
response's last byte is written, in the same thread and process, with the request's tenant and
language. Outside such a request (a Celery task, the shell, a service called by a test) it runs at
the commit, as it always did.

Why not a Celery task: the follow-ups' rows (the text, the notification, the delivery) are the
outbox that survives a broker outage; a task carrying the follow-up itself would be lost with the
broker, and a task run later reads the booking as it is then, not as it was. Here nothing new can
be lost that a crash right after the commit would not lose already.

Django calls a response's resource closers from `close()`, which the WSGI server (gunicorn, the
test servers) calls after sending the body, and which the test client calls before it returns:
tests that post through the client see every follow-up done; tests with a server in their process
wait for `idle()`.
"""
from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from functools import partial

from django.db import connection, transaction
from django.utils import translation

logger = logging.getLogger("core.after_response")

# The follow-ups the current request has deferred; None outside a request the middleware serves.
_deferred: contextvars.ContextVar[list | None] = contextvars.ContextVar("after_response_deferred", default=None)

_in_flight = 0
_in_flight_changed = threading.Condition()


def after_response(function: Callable[[], object]) -> None:
    """Run `function` once the current response is sent, or now outside a request. Its errors are
    logged, never raised: the caller's answer is already on its way."""
    deferred = _deferred.get()
    if deferred is None:
        _run_logged(function)
        return
    deferred.append((function, connection.tenant, translation.get_language()))


def followup_after_commit(function: Callable[..., object], /, **kwargs) -> None:
    """Register a domain action's one follow-up function: when the current transaction commits,
    `function(**kwargs)` runs after the response (see the module's docstring)."""
    transaction.on_commit(partial(after_response, partial(function, **kwargs)), robust=True)


def idle(*, timeout: float) -> bool:
    """Wait until no response of this process has follow-ups left to run; whether it got there."""
    with _in_flight_changed:
        return _in_flight_changed.wait_for(lambda: _in_flight == 0, timeout=timeout)


def _count(delta: int) -> None:
    global _in_flight
    with _in_flight_changed:
        _in_flight += delta
        _in_flight_changed.notify_all()


def _run_logged(function: Callable[[], object]) -> None:
    try:
        function()
    except Exception:
        logger.exception("a follow-up failed after its write committed")


def _run_deferred(deferred: list) -> None:
    from django_tenants.utils import tenant_context

    try:
        for function, tenant, language in deferred:
            with translation.override(language):
                # The voice API puts the connection back on the public schema when its view returns
                # (voiceapi.views.InternalAPIView): back in the request's tenant for its follow-ups.
                with tenant_context(tenant):
                    _run_logged(function)
    finally:
        _count(-1)


def respond_then_follow_up(get_response: Callable, request):
    """`get_response(request)`, with what it defers with `after_response` run when the response is
    closed (soniq_site.middleware.AfterResponseMiddleware, for the internal API)."""
    deferred: list = []
    token = _deferred.set(deferred)
    try:
        response = get_response(request)
    finally:
        _deferred.reset(token)
    if deferred:
        _count(+1)
        response._resource_closers.append(partial(_run_deferred, deferred))
    return response
