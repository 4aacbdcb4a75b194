"""Small helpers for the follow-up tests (the worker is another process: poll, never sleep blindly)."""
from __future__ import annotations

import time
from collections.abc import Callable

from django_tenants.utils import schema_context


def wait_until(condition: Callable[[], object], *, timeout: float = 20, what: str = "the condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}.")


def recipients_set(schema: str, *, emails: list[str], sms: list[str] | None = None, events: list[str] | None = None,
                   quiet_hours=None) -> None:
    from notifications.models import every_event
    from notifications.services import notification_settings_update

    with schema_context(schema):
        notification_settings_update(emails=emails, sms_numbers=sms or [],
                                     events=every_event() if events is None else events, quiet_hours=quiet_hours)


def notifications_in(schema: str, **filters) -> list:
    from notifications.models import Notification

    with schema_context(schema):
        return list(Notification.objects.filter(**filters).order_by("pk"))
