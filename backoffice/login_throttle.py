"""Admin login rate limiting, two limits in one window (15 minutes from the first failure):
- 5 failed logins for one username from one address refuse that pair;
- 20 failed logins from one address, whatever the usernames, refuse that address (password spraying:
  one guess for each of many accounts never trips the first limit).
A refused login is refused whether the next password is right or not (otherwise a guesser would
simply keep going until the right one lets them in).

The address is REMOTE_ADDR unless settings.TRUSTED_PROXY_COUNT says how many reverse proxies stand
in front (deploy/Caddyfile: one); only then is the client taken from X-Forwarded-For, counted from
the right, where the proxies appended it. Entries further left are the client's own words.

Counts live in the Django cache (Redis). The cache key is prefixed with the active schema by
django-tenants, so the salon's counter and the pizzeria's never mix, and the counter is shared by
every web process. The window is fixed from the first failure: `cache.add` starts it, `incr` counts
inside it without extending it.
"""
from __future__ import annotations

import hashlib
import ipaddress
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


def address_failure_limit() -> int:
    return getattr(settings, "ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT", 20)


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return "unknown"
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if trusted <= 0:
        # Without a trusted proxy a client can write any X-Forwarded-For it likes: a fresh counter
        # per request (dodging the limit) or an owner's address (locking them out).
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < trusted:
        return remote  # did not come through all the proxies: the header is not theirs
    candidate = hops[-trusted]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _key(*, username: str, address: str) -> str:
    # Hashed so any username (spaces, unicode, 300 characters) makes a valid, bounded cache key.
    digest = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{digest}"


def _address_key(address: str) -> str:
    # The username part is empty, which no real login has (the form requires a username).
    return _key(username="", address=address)


# If Redis is down the admin must still let its owners in: the limiter then stands aside (and says
# so in the log) rather than turning a cache outage into a locked-out business.
CACHE_ERRORS = (ConnectionError, OSError, RedisError)


def login_is_locked(*, username: str, address: str) -> bool:
    try:
        counts = cache.get_many([_key(username=username, address=address), _address_key(address)])
        return ((counts.get(_key(username=username, address=address)) or 0) >= login_failure_limit()
                or (counts.get(_address_key(address)) or 0) >= address_failure_limit())
    except CACHE_ERRORS:
        logger.warning("login rate limiting is off: the cache is unreachable", exc_info=True)
        return False


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed login for the username and for the address; returns the username's failures
    in the current window (0 if the cache is down)."""
    _count(_address_key(address))
    return _count(_key(username=username, address=address))


def _count(key: str) -> int:
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
    # Only the username's counter: a sprayer who owns one account must not clear their address's
    # count by logging into it between guesses.
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
