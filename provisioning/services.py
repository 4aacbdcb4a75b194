"""Tenant provisioning: create or update a tenant from a spec, delete a tenant.

A spec is parsed whole into a `TenantSpec` (provisioning/spec.py, no database), then checked against
the database (domains and numbers other tenants own, numbers read in the tenant's country), and only
then written, in one transaction, so a bad spec changes nothing. Provisioning the same spec twice
changes nothing the second time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django_tenants.utils import get_public_schema_name, schema_context

from bookings.models import BookingPolicy, Service
from calls.recordings import recordings_delete_all
from core.phone import DEFAULT_REGION, InvalidPhoneNumber, normalize_phone_number, phone_region
from notifications.services import notification_settings_get
from orders.models import MenuItem, OrderingPolicy
from provisioning.followups import followups_spec_apply, notifications_spec_resolve, webhooks_spec_resolve
from provisioning.spec import TenantSpec, TenantSpecError, tenant_spec_parse
from scenarios.starter_sets import scenario_starting_set_ensure
from tenants.agent.models import (
    AgentSettings,
    EscalationHours,
    normalize_transfer_target,
    transfer_target_loop_check,
)
from tenants.hours.models import Closure, OpeningHours
from tenants.models import Domain, PhoneNumber, Tenant, country_currency
from tenants.sip_requests import sip_sync_request
from tenants.tasks import tenant_spare_schemas_fill_soon

__all__ = ["TenantSpecError", "tenant_delete", "tenant_provision", "tenant_spec_validate"]


@dataclass
class CheckedSpec:
    """A parsed spec that the database agrees with: its numbers in E.164, its transfer target and
    follow-ups read in the tenant's country."""

    spec: TenantSpec
    phone_numbers: list[str]
    transfer_to: str | None
    # Follow-ups (provisioning/followups.py); None keeps what the tenant has.
    notifications: dict | None
    webhooks: list[dict] | None


@dataclass
class ProvisionResult:
    tenant: Tenant
    created: bool
    changes: list[str] = field(default_factory=list)
    # The owner account this run created (None when it existed already or the spec has no owner).
    owner_created: Any = None


# --- the checks that need the database ---------------------------------------------------------

def _number_region(spec: TenantSpec) -> str:
    """The country in which the spec's numbers without a country code are read: the spec's
    `country`, else the existing tenant's, else the first number written with its country code."""
    if spec.country:
        return spec.country
    existing = Tenant.objects.filter(schema_name=spec.slug).values_list("country", flat=True).first()
    if existing:
        return existing
    for raw in spec.phone_numbers:
        if raw.startswith("+"):
            return phone_region(raw)
    return DEFAULT_REGION


def _phone_numbers(spec: TenantSpec, *, region: str) -> list[str]:
    numbers = []
    for index, raw in enumerate(spec.phone_numbers):
        path = f"phone_numbers[{index}]"
        try:
            number = normalize_phone_number(raw, default_region=region)
        except InvalidPhoneNumber as exc:
            raise TenantSpecError(path, str(exc)) from exc
        owner = PhoneNumber.objects.filter(number=number).exclude(tenant__schema_name=spec.slug).select_related("tenant").first()
        if owner is not None:
            raise TenantSpecError(path, f"{number} already belongs to another tenant ({owner.tenant.schema_name}).")
        if number not in numbers:
            numbers.append(number)
    return numbers


def tenant_spec_validate(spec: Any) -> CheckedSpec:
    """Parse a whole spec (or take a parsed one) and check it against the database; raise
    `TenantSpecError` naming the first bad field."""
    parsed = spec if isinstance(spec, TenantSpec) else tenant_spec_parse(spec)
    if Domain.objects.filter(domain=parsed.domain).exclude(tenant__schema_name=parsed.slug).exists():
        raise TenantSpecError("domain", f"{parsed.domain} already belongs to another tenant.")
    region = _number_region(parsed)
    phone_numbers = _phone_numbers(parsed, region=region)
    transfer_to = None
    if parsed.escalation is not None:
        try:
            transfer_to = normalize_transfer_target(parsed.escalation.transfer_to, region=region)
            # The spec's own numbers count before they are registered: a new business's loop too.
            transfer_target_loop_check(transfer_to, own_numbers=tuple(phone_numbers))
        except ValidationError as exc:
            raise TenantSpecError("escalation.transfer_to", exc.messages[0]) from exc
    # One currency per business: an item may repeat it, never name another (an order mixing two
    # used to fail on the phone).
    currency = (parsed.currency or Tenant.objects.filter(schema_name=parsed.slug).values_list("currency", flat=True).first()
                or country_currency(parsed.country or region))
    for section in ("services", "menu"):
        for index, item in enumerate(getattr(parsed, section) or []):
            if item.currency is not None and item.currency != currency:
                raise TenantSpecError(f"{section}[{index}].currency", f"must be the business's currency ({currency}, "
                                                                      "the spec's `currency`); leave it out, every price is in it.")
    return CheckedSpec(
        spec=parsed,
        phone_numbers=phone_numbers,
        transfer_to=transfer_to,
        notifications=(notifications_spec_resolve(parsed.notifications, region=region)
                       if parsed.notifications is not None else None),
        webhooks=webhooks_spec_resolve(parsed.webhooks) if parsed.webhooks is not None else None,
    )


# --- writing -----------------------------------------------------------------------------------

def _update_fields(instance, values: dict, changes: list[str], label: str) -> None:
    """Set `values` on `instance` and save only if something differs, so re-provisioning is a no-op."""
    is_new = instance.pk is None
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if is_new or changed:
        for name, value in values.items():
            setattr(instance, name, value)
        # Tenant.save() creates the schema; its migration chatter has no place in provisioning output.
        instance.save(**({"verbosity": 0} if isinstance(instance, Tenant) else {}))
        changes.append(f"{label}: {'created' if is_new else ', '.join(changed)}")


def _replace_weekly_ranges(model, weekly: dict[int, list], start_field: str, end_field: str,
                           changes: list[str], label: str) -> None:
    wanted = {(day, opens, closes) for day, ranges in weekly.items() for opens, closes in ranges}
    days = set(weekly)
    current = {(row.weekday, getattr(row, start_field), getattr(row, end_field)): row.pk
               for row in model.objects.filter(weekday__in=days)}
    stale = [pk for key, pk in current.items() if key not in wanted]
    if stale:
        model.objects.filter(pk__in=stale).delete()
    missing = wanted - set(current)
    model.objects.bulk_create([model(weekday=d, **{start_field: s, end_field: e}) for d, s, e in sorted(missing)])
    if stale or missing:
        changes.append(f"{label} updated")


def _upsert_by_name(model, entries: list[dict], inactive_field: str, changes: list[str], label: str) -> None:
    existing = {row.name.lower(): row for row in model.objects.all()}
    for entry in entries:
        row = existing.pop(entry["name"].lower(), None) or model()
        _update_fields(row, entry, changes, f"{label} {entry['name']}")
    # Rows left out of the spec may have bookings or orders pointing at them: retire, don't delete.
    for row in existing.values():
        if getattr(row, inactive_field):
            setattr(row, inactive_field, False)
            row.save(update_fields=[inactive_field])
            changes.append(f"{label} {row.name}: retired")


FRONT_DESK_GROUP = "Front desk"
# What staff at the counter need: the bookings (take and cancel them), calls and their transcripts,
# callbacks to work through, orders to move through the kitchen, the SMS log. Not the agent's
# settings, hours, prices or the users: those stay with the owner. Listening to recordings too (the
# owner can take it away).
FRONT_DESK_PERMISSIONS = {
    "bookings": ["view_booking", "add_booking", "change_booking", "view_service"],
    "hours": ["view_openinghours", "view_closure"],
    "calls": ["view_call", "view_callbackrequest", "change_callbackrequest", "listen_callrecording"],
    "messaging": ["view_smsmessage", "view_smsreply", "change_smsreply"],
    "orders": ["view_order", "change_order", "view_menuitem"],
}


def _front_desk_group_ensure(changes: list[str]) -> None:
    """A "Front desk" group the owner can put staff accounts in. Made once; the owner may change
    it afterwards and provisioning leaves it alone."""
    from django.contrib.auth.models import Group, Permission

    if Group.objects.filter(name=FRONT_DESK_GROUP).exists():
        return
    wanted = Q()
    for app_label, codenames in FRONT_DESK_PERMISSIONS.items():
        wanted |= Q(content_type__app_label=app_label, codename__in=codenames)
    group = Group.objects.create(name=FRONT_DESK_GROUP)
    group.permissions.set(Permission.objects.filter(wanted))
    changes.append("front desk group created")


def _write_tenant_schema(checked: CheckedSpec, changes: list[str]):
    """Write the schema's side of the spec; return the owner account it created, if it did."""
    spec = checked.spec
    owner_created = None
    if spec.owner:
        # The spec's password is only the first one. An existing owner is left exactly as they are:
        # re-provisioning (and `seed_demo` on every start) used to reset a changed password to the
        # one in the spec (for the demo tenants, the one printed in the README) and re-grant
        # superuser to an account the business had deliberately limited or disabled.
        user_model = get_user_model()
        if not user_model.objects.filter(username=spec.owner.email).exists():
            # No password in the spec: an unusable one until the owner chooses theirs by the link.
            owner_created = user_model.objects.create_superuser(username=spec.owner.email, email=spec.owner.email,
                                                                password=spec.owner.password)
            changes.append("owner created")
    _front_desk_group_ensure(changes)

    # Each section's fields are named as its model's, so they are written as they are.
    agent_values = spec.agent.model_dump()
    if checked.transfer_to is not None:
        agent_values["transfer_to"] = checked.transfer_to
    current_agent = AgentSettings.objects.first()
    if spec.capabilities is not None:
        agent_values["capabilities"] = spec.capabilities
    elif current_agent is None:
        # A new business does what its spec sells: services are booked, a menu is ordered from.
        sells = (bool(spec.services), bool(spec.menu))
        agent_values["capabilities"] = {(True, False): "bookings", (False, True): "orders"}.get(sells, "both")
    _update_fields(current_agent or AgentSettings(), agent_values, changes, "agent")
    if spec.escalation is not None:
        _replace_weekly_ranges(EscalationHours, spec.escalation.hours.by_weekday(),
                               "starts", "ends", changes, "escalation hours")
    if spec.hours is not None:
        _replace_weekly_ranges(OpeningHours, spec.hours.by_weekday(), "opens", "closes", changes, "opening hours")
    if spec.closures is not None:
        wanted = dict(spec.closure_days())
        removed, _ = Closure.objects.exclude(date__in=wanted).delete()
        for day, reason in wanted.items():
            closure = Closure.objects.filter(date=day).first() or Closure(date=day)
            _update_fields(closure, {"reason": reason}, changes, f"closure {day}")
        if removed:
            changes.append("closures removed")
    if spec.booking_rules is not None:
        _update_fields(BookingPolicy.objects.first() or BookingPolicy(), spec.booking_rules.model_dump(), changes,
                       "booking rules")
    if spec.services is not None:
        _upsert_by_name(Service, [{**service.model_dump(exclude={"currency"}), "active": True}
                                  for service in spec.services], "active", changes, "service")
    if spec.ordering is not None:
        _update_fields(OrderingPolicy.objects.first() or OrderingPolicy(), spec.ordering.model_dump(), changes,
                       "ordering rules")
    if spec.menu is not None:
        _upsert_by_name(MenuItem, [item.model_dump(exclude={"currency"}) for item in spec.menu], "available", changes,
                        "menu item")
    if spec.facts is not None:
        _replace_facts([{**fact.model_dump(), "position": index} for index, fact in enumerate(spec.facts)], changes)
    added = scenario_starting_set_ensure(bookings=Service.objects.filter(active=True).exists(),
                                         orders=MenuItem.objects.filter(available=True).exists())
    if added:
        changes.append(f"{added} starting scenarios added")
    prices_in_tenant_currency(changes=changes)
    followups_spec_apply(notifications=checked.notifications, webhooks=checked.webhooks, changes=changes)
    if checked.notifications is None and owner_created is not None:
        # A new business hears of its calls from the first day: the owner's email is the recipient
        # until the owner (or a spec) says otherwise.
        notification_settings = notification_settings_get()
        if not notification_settings.emails:
            notification_settings.emails = [spec.owner.email]
            notification_settings.save(update_fields=["emails"])
            changes.append("notifications to the owner's email")
    return owner_created


def prices_in_tenant_currency(*, changes: list[str] | None = None) -> None:
    """Every service and menu item of the current tenant in its one currency (after the spec or the
    operator changed it): an order can then never mix two currencies."""
    from tenants.selectors import tenant_currency

    currency = tenant_currency()
    moved = sum(model.objects.exclude(currency=currency).update(currency=currency) for model in (Service, MenuItem))
    if moved and changes is not None:
        changes.append(f"prices now in {currency}")


def _replace_facts(facts: list[dict], changes: list[str]) -> None:
    from tenants.agent.models import BusinessFact

    current = list(BusinessFact.objects.values("topic", "answer", "position"))
    if current != facts:
        BusinessFact.objects.all().delete()
        BusinessFact.objects.bulk_create([BusinessFact(**fact) for fact in facts])
        changes.append("facts replaced")


def tenant_provision(*, spec: Any) -> ProvisionResult:
    """Create the tenant described by `spec` (a parsed YAML/JSON mapping or a `TenantSpec`), or bring
    an existing one (same slug) in line with it."""
    validated = tenant_spec_validate(spec)
    parsed = validated.spec
    changes: list[str] = []
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(schema_name=parsed.slug).first()
        created = tenant is None
        if created:
            # Saving creates the schema and runs the tenant migrations inside this transaction, so
            # a failure later in provisioning rolls the schema back too. It takes a spare schema when
            # there is one: ask Celery for the next once this commits.
            tenant = Tenant(schema_name=parsed.slug)
            transaction.on_commit(tenant_spare_schemas_fill_soon)
        country = parsed.country or (phone_region(validated.phone_numbers[0]) if created and validated.phone_numbers
                                     else tenant.country)
        currency = parsed.currency or (country_currency(country) if created else tenant.currency)
        _update_fields(tenant, {**parsed.tenant_columns(), "country": country, "currency": currency}, changes, "tenant")

        domain = tenant.domains.filter(domain=parsed.domain).first()
        if domain is None:
            tenant.domains.update(is_primary=False)
            Domain.objects.create(domain=parsed.domain, tenant=tenant, is_primary=True)
            changes.append(f"domain {parsed.domain} added")
        elif not domain.is_primary:
            tenant.domains.update(is_primary=False)
            domain.is_primary = True
            domain.save()
            changes.append(f"domain {parsed.domain} made primary")

        current_numbers = set(tenant.phone_numbers.values_list("number", flat=True))
        for number in validated.phone_numbers:
            if number not in current_numbers:
                PhoneNumber.objects.create(number=number, tenant=tenant)
                changes.append(f"number {number} added")
        stale_numbers = current_numbers - set(validated.phone_numbers)
        if stale_numbers:
            tenant.phone_numbers.filter(number__in=stale_numbers).delete()
            changes.append(f"numbers released: {', '.join(sorted(stale_numbers))}")
        if set(validated.phone_numbers) != current_numbers:
            sip_sync_request()  # LiveKit's trunk follows after the commit

        with schema_context(tenant.schema_name):
            owner_created = _write_tenant_schema(validated, changes)
    return ProvisionResult(tenant=tenant, created=created, changes=changes, owner_created=owner_created)


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant: its schema is dropped, its domains and phone numbers are freed."""
    if connection.schema_name != get_public_schema_name():
        connection.set_schema_to_public()
    # The audio lives outside the schema (files or a bucket): dropping the schema would only unlink it.
    with schema_context(tenant.schema_name):
        recordings_delete_all()
    with transaction.atomic():
        if tenant.phone_numbers.exists():
            sip_sync_request()  # its numbers leave LiveKit's trunk after the commit
        tenant.delete(force_drop=True)
