"""The follow-up parts of a tenant's provisioning spec (tenants/services.py validates the rest):

    notifications: {emails: [...], sms: [...], events: [...], quiet_hours: {from: "22:00", to: "07:00"}}
    webhooks: [{url, secret, events}]

Validated here, so provisioning knows no notification or webhook details; errors carry the spec
path (`webhooks[0].url`) for provisioning to report."""
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from notifications.models import NotificationEvent, every_event
from webhooks.models import WebhookEvent

NOTIFICATION_KEYS = {"emails", "sms", "events", "quiet_hours"}
WEBHOOK_KEYS = {"url", "secret", "events"}


class FollowUpSpecError(ValueError):
    def __init__(self, field_path: str, message: str):
        self.field, self.message = field_path, message
        super().__init__(f"{field_path}: {message}")


def _list(value: Any, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FollowUpSpecError(path, "must be a list.")
    return value


def _unknown(mapping: Any, allowed: set[str], path: str) -> dict:
    if not isinstance(mapping, dict):
        raise FollowUpSpecError(path, "must be a mapping of keys to values.")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise FollowUpSpecError(f"{path}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))}).")
    return mapping


def _time(value: Any, path: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise FollowUpSpecError(path, 'must be a time like "22:00".') from None


def notifications_spec_validate(value: Any, *, region: str) -> dict:
    from core.phone import InvalidPhoneNumber, normalize_phone_number

    raw = _unknown(value, NOTIFICATION_KEYS, "notifications")
    emails = []
    for index, email in enumerate(_list(raw.get("emails"), "notifications.emails")):
        try:
            validate_email(email)
        except (ValidationError, TypeError):
            raise FollowUpSpecError(f"notifications.emails[{index}]", "is not an email address.") from None
        emails.append(email.strip())
    numbers = []
    for index, number in enumerate(_list(raw.get("sms"), "notifications.sms")):
        try:
            numbers.append(normalize_phone_number(str(number), default_region=region))
        except InvalidPhoneNumber:
            raise FollowUpSpecError(f"notifications.sms[{index}]", "is not a phone number.") from None
    # Left out: every event; an empty list: none.
    events = every_event() if raw.get("events") is None else _list(raw.get("events"), "notifications.events")
    valid = set(NotificationEvent.values)
    for index, event in enumerate(events):
        if event not in valid:
            raise FollowUpSpecError(f"notifications.events[{index}]", f"unknown event (one of: {', '.join(sorted(valid))}).")
    quiet_hours = None
    if raw.get("quiet_hours") is not None:
        quiet = _unknown(raw["quiet_hours"], {"from", "to"}, "notifications.quiet_hours")
        if set(quiet) != {"from", "to"}:
            raise FollowUpSpecError("notifications.quiet_hours", "needs both from and to.")
        quiet_hours = (_time(quiet["from"], "notifications.quiet_hours.from"), _time(quiet["to"], "notifications.quiet_hours.to"))
    return {"emails": emails, "sms_numbers": numbers, "events": list(events), "quiet_hours": quiet_hours}


def webhooks_spec_validate(value: Any) -> list[dict]:
    endpoints = []
    valid = set(WebhookEvent.values)
    for index, entry in enumerate(_list(value, "webhooks")):
        path = f"webhooks[{index}]"
        entry = _unknown(entry, WEBHOOK_KEYS, path)
        url = entry.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in {"https", "http"} or not parts.hostname:
            raise FollowUpSpecError(f"{path}.url", "must be an https:// URL.")
        secret = entry.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret.startswith("whsec_") or len(secret) < 30):
            raise FollowUpSpecError(f"{path}.secret", "must be a whsec_… secret (or left out to generate one).")
        events = _list(entry.get("events"), f"{path}.events")
        for event_index, event in enumerate(events):
            if event not in valid:
                raise FollowUpSpecError(f"{path}.events[{event_index}]", f"unknown event (one of: {', '.join(sorted(valid))}).")
        endpoints.append({"url": url, "secret": secret, "events": list(events)})
    return endpoints


def followups_spec_apply(*, notifications: dict | None, webhooks: list[dict] | None, changes: list[str]) -> None:
    """Write the validated parts in the current tenant schema. Webhook endpoints are matched by URL:
    one not in the spec is deactivated (its delivery history stays), a secret left out keeps the
    existing one."""
    from notifications.services import notification_settings_get, notification_settings_update
    from webhooks.models import WebhookEndpoint, webhook_secret_new

    if notifications is not None:
        current = notification_settings_get()
        quiet = (current.quiet_hours_start, current.quiet_hours_end) if current.quiet_hours_start else None
        if (current.emails, current.sms_numbers, current.events, quiet) != (
                notifications["emails"], notifications["sms_numbers"], notifications["events"], notifications["quiet_hours"]):
            notification_settings_update(**notifications)
            changes.append("notifications")
    if webhooks is not None:
        urls = [entry["url"] for entry in webhooks]
        if WebhookEndpoint.objects.exclude(url__in=urls).filter(active=True).update(active=False):
            changes.append("webhooks removed")
        for entry in webhooks:
            endpoint = WebhookEndpoint.objects.filter(url=entry["url"]).first() or WebhookEndpoint(url=entry["url"], secret=webhook_secret_new())
            wanted = (entry["secret"] or endpoint.secret, entry["events"], True)
            if endpoint.pk is None or (endpoint.secret, endpoint.events, endpoint.active) != wanted:
                endpoint.secret, endpoint.events, endpoint.active = wanted
                endpoint.save()
                changes.append(f"webhook {endpoint.url}")
