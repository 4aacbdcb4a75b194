"""Admin login rate limiting: after 5 failed logins for one username from one address, that pair is
refused for 15 minutes, whether the next password is right or not (otherwise a guesser would simply
keep going until the right one lets them in).

Counts live in the Django cache (Redis). The cache key is prefixed with the active schema by
django-tenants, so the salon's counter and the pizzeria's never mix, and the counter is shared by
every web process. The window is fixed from the first failure: `cache.add` starts it, `incr` counts
inside it without extending it.
"""
from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "admin-login-failures"


def login_failure_limit() -> int:
    return getattr(settings, "ADMIN_LOGIN_FAILURE_LIMIT", 5)


def login_failure_window_seconds() -> int:
    return getattr(settings, "ADMIN_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)


def client_address(request: HttpRequest | None) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a client can write any X-Forwarded-For it likes and would
    # get a fresh counter with every request.
    if request is None:
        return "unknown"
    return request.META.get("REMOTE_ADDR") or "unknown"


def _key(*, username: str, address: str) -> str:
    # Hashed so any username (spaces, unicode, 300 characters) makes a valid, bounded cache key.
    digest = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{digest}"


# If Redis is down the admin must still let its owners in: the limiter then stands aside (and says
# so in the log) rather than turning a cache outage into a locked-out business.
CACHE_ERRORS = (ConnectionError, OSError, RedisError)


def login_is_locked(*, username: str, address: str) -> bool:
    try:
        return (cache.get(_key(username=username, address=address)) or 0) >= login_failure_limit()
    except CACHE_ERRORS:
        logger.warning("login rate limiting is off: the cache is unreachable", exc_info=True)
        return False


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed login; returns the failures in the current window (0 if the cache is down)."""
    key = _key(username=username, address=address)
    try:
        cache.add(key, 0, timeout=login_failure_window_seconds())
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=login_failure_window_seconds())
            return 1
    except CACHE_ERRORS:
        logger.warning("could not count a failed login: the cache is unreachable", exc_info=True)
        return 0


def login_failures_reset(*, username: str, address: str) -> None:
    try:
        cache.delete(_key(username=username, address=address))
    except CACHE_ERRORS:
        logger.warning("could not reset login failures: the cache is unreachable", exc_info=True)


def login_failures_reset_all() -> None:
    """Forget every counter in every schema (tests; an operator unlocking everyone). Uses the Redis
    client directly because the cache API has no pattern delete."""
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"*:{KEY_PREFIX}:*", count=500))
    if keys:
        client.delete(*keys)
