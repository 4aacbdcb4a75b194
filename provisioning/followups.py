"""The follow-up parts of a tenant's provisioning spec, whose shapes are `NotificationsSpec` and
`WebhookSpec` in provisioning/spec.py:

    notifications: {emails: [...], sms: [...], events: [...], quiet_hours: {from: "22:00", to: "07:00"}}
    webhooks: [{url, secret, events}]

Resolved here into what the notification settings and webhook endpoints store (staff numbers read in
the tenant's country), and written, so provisioning knows no notification or webhook details."""
from __future__ import annotations

from typing import Any

from core.phone import InvalidPhoneNumber, normalize_phone_number
from notifications.models import every_event
from provisioning.spec import NotificationsSpec, TenantSpecError, WebhookSpec, tenant_spec_section_parse


def notifications_spec_resolve(spec: NotificationsSpec, *, region: str) -> dict:
    numbers = []
    for index, number in enumerate(spec.sms):
        try:
            numbers.append(normalize_phone_number(number, default_region=region))
        except InvalidPhoneNumber:
            raise TenantSpecError(f"notifications.sms[{index}]", "is not a phone number.") from None
    quiet_hours = (spec.quiet_hours.starts, spec.quiet_hours.ends) if spec.quiet_hours is not None else None
    # Left out: every event; an empty list: none (events are explicit choices).
    events = every_event() if spec.events is None else list(spec.events)
    return {"emails": list(spec.emails), "sms_numbers": numbers, "events": events, "quiet_hours": quiet_hours}


def webhooks_spec_resolve(spec: list[WebhookSpec]) -> list[dict]:
    return [endpoint.model_dump() for endpoint in spec]


def notifications_spec_validate(value: Any, *, region: str) -> dict:
    """The spec's `notifications:` alone, parsed and resolved."""
    return notifications_spec_resolve(tenant_spec_section_parse("notifications", value), region=region)


def webhooks_spec_validate(value: Any) -> list[dict]:
    """The spec's `webhooks:` alone, parsed and resolved."""
    return webhooks_spec_resolve(tenant_spec_section_parse("webhooks", value))


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
