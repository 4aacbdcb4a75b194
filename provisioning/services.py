"""Tenant provisioning: create or update a tenant from a spec, delete a tenant.

A spec is validated whole before anything is written, and then written in one transaction, so a
bad spec changes nothing. Provisioning the same spec twice changes nothing the second time.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import is_currency
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q
from django_tenants.utils import get_public_schema_name, schema_context

from bookings.models import BookingPolicy, Service
from core.languages import unsupported_language_message
from core.phone import DEFAULT_REGION, InvalidPhoneNumber, is_phone_region, normalize_phone_number, phone_region
from core.weekdays import WEEKDAY_KEYS
from notifications.services import notification_settings_get
from orders.models import MenuItem, OrderingPolicy
from provisioning.followups import (
    FollowUpSpecError,
    followups_spec_apply,
    notifications_spec_validate,
    webhooks_spec_validate,
)
from tenants.agent.models import AgentSettings, EscalationHours, normalize_transfer_target
from tenants.hours.models import Closure, OpeningHours
from tenants.models import Domain, PhoneNumber, Tenant, country_currency
from tenants.sip_sync import sip_sync_request

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
RESERVED_SLUGS = {"public", "information_schema", "postgres", "admin", "internal", "www"}

TOP_LEVEL_KEYS = {"slug", "name", "domain", "timezone", "country", "currency", "capabilities", "phone_numbers", "owner", "agent", "hours", "closures",
                  "escalation", "booking_rules", "services", "ordering", "menu", "facts", "notifications", "webhooks"}
REQUIRED_KEYS = {"slug", "name", "domain", "timezone"}
AGENT_KEYS = {"business_name", "greeting", "instructions", "voice_id", "voice_speed", "language", "max_call_seconds",
              "first_warning_seconds", "final_warning_seconds", "sms_confirmations", "callback_promise"}
SERVICE_KEYS = {"name", "duration_minutes", "buffer_minutes", "capacity", "price", "currency", "aliases", "description"}
MENU_KEYS = {"name", "price", "currency", "aliases", "available", "category", "description"}
BOOKING_RULE_KEYS = {"min_notice_minutes", "horizon_days", "slot_interval_minutes", "change_notice_hours"}
ORDERING_KEYS = {"prep_minutes", "delivery_minutes", "delivery_available"}


class TenantSpecError(ValueError):
    """A spec that cannot be provisioned. `field` names where in the spec the problem is."""

    def __init__(self, field_path: str, message: str):
        self.field = field_path
        self.message = message
        super().__init__(f"{field_path}: {message}")


@dataclass
class TenantSpec:
    """A validated spec: every value already in the type the models store."""

    slug: str
    name: str
    domain: str
    timezone: str
    # None: keep an existing tenant's country; a new one takes its first number's.
    country: str | None
    # The one currency of every price and order. None: keep an existing tenant's; a new one takes
    # its country's.
    currency: str | None
    # bookings | orders | both. None: keep an existing tenant's; a new one's follows what it sells.
    capabilities: str | None
    phone_numbers: list[str]
    owner: dict | None
    agent: dict
    hours: dict[int, list[tuple[dt.time, dt.time]]] | None
    closures: list[tuple[dt.date, str]] | None
    escalation: dict | None
    booking_rules: dict | None
    services: list[dict] | None
    ordering: dict | None
    menu: list[dict] | None
    # None: keep an existing tenant's facts; a list replaces them.
    facts: list[dict] | None = None
    # Follow-ups (provisioning/followups.py); None keeps what the tenant has.
    notifications: dict | None = None
    webhooks: list[dict] | None = None


@dataclass
class ProvisionResult:
    tenant: Tenant
    created: bool
    changes: list[str] = field(default_factory=list)
    # The owner account this run created (None when it existed already or the spec has no owner).
    owner_created: Any = None


# --- validation --------------------------------------------------------------------------------

def _require_mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise TenantSpecError(path, "must be a mapping of keys to values.")
    return value


def _reject_unknown_keys(mapping: dict, allowed: set[str], path: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise TenantSpecError(where, f"unknown key (allowed: {', '.join(sorted(allowed))}).")


def _text(value: Any, path: str, *, max_length: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TenantSpecError(path, "must be a non-empty text." if required else "must be text.")
    if len(value) > max_length:
        raise TenantSpecError(path, f"must be at most {max_length} characters.")
    return value.strip()


def _whole_number(value: Any, path: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise TenantSpecError(path, f"must be a whole number from {minimum} to {maximum}.")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise TenantSpecError(path, "must be true or false.")
    return value


def _money(value: Any, path: str) -> Decimal:
    # Floats are refused by text round-trip, not by type: YAML `12.50` is a float, and str(12.5)
    # is exact for prices with two decimals.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TenantSpecError(path, "must be a price such as 12.50.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise TenantSpecError(path, "must be a price such as 12.50.") from exc
    if not amount.is_finite() or amount < 0 or amount > Decimal("99999999.99") or amount != amount.quantize(Decimal("0.01")):
        raise TenantSpecError(path, "must be a price from 0 with at most two decimals.")
    return amount.quantize(Decimal("0.01"))


def _currency(value: Any, path: str) -> str:
    if not isinstance(value, str) or not is_currency(value.upper()):
        raise TenantSpecError(path, "must be a three-letter currency code such as USD.")
    return value.upper()


def _item_currency(entry: dict, path: str, currency: str | None) -> None:
    """A service or menu item may still say its currency, but only the business's: one currency per
    tenant, so no order can mix two."""
    if "currency" not in entry:
        return
    stated = _currency(entry["currency"], f"{path}.currency")
    if currency is not None and stated != currency:
        raise TenantSpecError(f"{path}.currency", f"must be the business's currency ({currency}, the spec's "
                                                  "`currency`); leave it out, every price is in it.")


def _validate_capabilities(value: Any) -> str | None:
    if value is None:
        return None
    if value not in AgentSettings.Capabilities.values:
        raise TenantSpecError("capabilities", "must be bookings, orders or both.")
    return value


def _aliases(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TenantSpecError(path, "must be a list of names.")
    return [_text(alias, f"{path}[{index}]", max_length=100) for index, alias in enumerate(value)]


def _clock_time(value: Any, path: str) -> dt.time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise TenantSpecError(path, 'must be a time such as "09:00".')
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return dt.time(23, 59, 59)
    if hours > 23 or minutes > 59:
        raise TenantSpecError(path, 'must be a time such as "09:00".')
    return dt.time(hours, minutes)


def validate_weekly_ranges(value: Any, path: str) -> dict[int, list[tuple[dt.time, dt.time]]]:
    """`{"mon": [["09:00","12:00"], ["13:00","18:00"]], ...}` → {0: [(time, time), ...]}."""
    mapping = _require_mapping(value, path)
    _reject_unknown_keys(mapping, set(WEEKDAY_KEYS), path)
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for day_key, ranges in mapping.items():
        day_path = f"{path}.{day_key}"
        if ranges is None:
            ranges = []
        if not isinstance(ranges, list):
            raise TenantSpecError(day_path, 'must be a list of ["HH:MM", "HH:MM"] ranges.')
        parsed = []
        for index, time_range in enumerate(ranges):
            range_path = f"{day_path}[{index}]"
            if not isinstance(time_range, (list, tuple)) or len(time_range) != 2:
                raise TenantSpecError(range_path, 'must be a ["HH:MM", "HH:MM"] pair.')
            opens, closes = _clock_time(time_range[0], range_path), _clock_time(time_range[1], range_path)
            if opens >= closes:
                raise TenantSpecError(range_path, "must open before it closes.")
            parsed.append((opens, closes))
        parsed.sort()
        for (_, previous_close), (next_open, _) in zip(parsed, parsed[1:], strict=False):
            if next_open < previous_close:
                raise TenantSpecError(day_path, "has overlapping ranges.")
        weekly[WEEKDAY_KEYS.index(day_key)] = parsed
    return weekly


def _call_language(value: Any) -> str:
    language = _text(value, "agent.language", max_length=16)
    if problem := unsupported_language_message(language):
        raise TenantSpecError("agent.language", problem)
    return language


def _validate_agent(value: Any, business_name: str) -> dict:
    agent = _require_mapping(value if value is not None else {}, "agent")
    _reject_unknown_keys(agent, AGENT_KEYS, "agent")
    validated = {
        "business_name": _text(agent.get("business_name", business_name), "agent.business_name", max_length=200),
        "greeting": _text(agent.get("greeting", f"Thanks for calling {business_name}, how can I help?"),
                          "agent.greeting", max_length=1000),
        "instructions": _text(agent.get("instructions", ""), "agent.instructions", max_length=20000, required=False),
        "voice_id": _text(agent.get("voice_id", ""), "agent.voice_id", max_length=100, required=False),
        "language": _call_language(agent.get("language", "en")),
        "max_call_seconds": _whole_number(agent.get("max_call_seconds", 600), "agent.max_call_seconds", minimum=60, maximum=3600),
        "first_warning_seconds": _whole_number(agent.get("first_warning_seconds", 120), "agent.first_warning_seconds", minimum=1, maximum=3599),
        "final_warning_seconds": _whole_number(agent.get("final_warning_seconds", 30), "agent.final_warning_seconds", minimum=1, maximum=3599),
        "sms_confirmations": _boolean(agent.get("sms_confirmations", False), "agent.sms_confirmations"),
        "callback_promise": _text(agent.get("callback_promise", "within one business day"), "agent.callback_promise", max_length=200),
    }
    speed = agent.get("voice_speed", "1.0")
    try:
        validated["voice_speed"] = Decimal(str(speed)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise TenantSpecError("agent.voice_speed", "must be a number from 0.6 to 1.5.") from exc
    if isinstance(speed, bool) or not Decimal("0.6") <= validated["voice_speed"] <= Decimal("1.5"):
        raise TenantSpecError("agent.voice_speed", "must be a number from 0.6 to 1.5.")
    if validated["first_warning_seconds"] >= validated["max_call_seconds"]:
        raise TenantSpecError("agent.first_warning_seconds", "must be shorter than max_call_seconds.")
    if validated["final_warning_seconds"] >= validated["first_warning_seconds"]:
        raise TenantSpecError("agent.final_warning_seconds", "must be shorter than first_warning_seconds.")
    return validated


def _validate_named_list(value: Any, path: str) -> list[dict]:
    if not isinstance(value, list):
        raise TenantSpecError(path, "must be a list.")
    seen: set[str] = set()
    for index, entry in enumerate(value):
        _require_mapping(entry, f"{path}[{index}]")
        name = _text(entry.get("name"), f"{path}[{index}].name", max_length=100)
        if name.lower() in seen:
            raise TenantSpecError(f"{path}[{index}].name", f"{name!r} appears twice.")
        seen.add(name.lower())
    return value


def _validate_services(value: Any, currency: str | None) -> list[dict]:
    services = []
    for index, entry in enumerate(_validate_named_list(value, "services")):
        path = f"services[{index}]"
        _reject_unknown_keys(entry, SERVICE_KEYS, path)
        _item_currency(entry, path, currency)
        services.append({
            "name": _text(entry["name"], f"{path}.name", max_length=100),
            "duration_minutes": _whole_number(entry.get("duration_minutes"), f"{path}.duration_minutes", minimum=5, maximum=1440),
            "buffer_minutes": _whole_number(entry.get("buffer_minutes", 0), f"{path}.buffer_minutes", minimum=0, maximum=240),
            "capacity": _whole_number(entry.get("capacity", 1), f"{path}.capacity", minimum=1, maximum=100),
            "price": None if entry.get("price") is None else _money(entry["price"], f"{path}.price"),
            "aliases": _aliases(entry.get("aliases"), f"{path}.aliases"),
            "description": _text(entry.get("description", ""), f"{path}.description", max_length=300, required=False),
            "active": True,
        })
    return services


def _validate_menu(value: Any, currency: str | None) -> list[dict]:
    menu = []
    for index, entry in enumerate(_validate_named_list(value, "menu")):
        path = f"menu[{index}]"
        _reject_unknown_keys(entry, MENU_KEYS, path)
        _item_currency(entry, path, currency)
        if "price" not in entry:
            raise TenantSpecError(f"{path}.price", "is required.")
        menu.append({
            "name": _text(entry["name"], f"{path}.name", max_length=100),
            "price": _money(entry["price"], f"{path}.price"),
            "aliases": _aliases(entry.get("aliases"), f"{path}.aliases"),
            "available": _boolean(entry.get("available", True), f"{path}.available"),
            "category": _text(entry.get("category", ""), f"{path}.category", max_length=100, required=False),
            "description": _text(entry.get("description", ""), f"{path}.description", max_length=300, required=False),
        })
    return menu


def validate_facts(value: Any) -> list[dict]:
    """The business's facts (`facts: [{topic, answer}]`), in order. Their total length is bounded
    (FACTS_TOTAL_MAX), because every call's instructions carry them."""
    from tenants.agent.models import FACT_ANSWER_MAX, FACT_TOPIC_MAX, FACTS_TOTAL_MAX

    if not isinstance(value, list):
        raise TenantSpecError("facts", "must be a list.")
    facts, seen = [], set()
    for index, entry in enumerate(value):
        path = f"facts[{index}]"
        _reject_unknown_keys(_require_mapping(entry, path), {"topic", "answer"}, path)
        topic = _text(entry.get("topic"), f"{path}.topic", max_length=FACT_TOPIC_MAX)
        answer = _text(entry.get("answer"), f"{path}.answer", max_length=FACT_ANSWER_MAX)
        if topic.lower() in seen:
            raise TenantSpecError(f"{path}.topic", f"{topic!r} appears twice.")
        seen.add(topic.lower())
        facts.append({"topic": topic, "answer": answer, "position": index})
    total = sum(len(fact["topic"]) + len(fact["answer"]) for fact in facts)
    if total > FACTS_TOTAL_MAX:
        raise TenantSpecError("facts", f"are {total} characters in all; keep them under {FACTS_TOTAL_MAX}.")
    return facts


def _validate_closures(value: Any) -> list[tuple[dt.date, str]]:
    if not isinstance(value, list):
        raise TenantSpecError("closures", "must be a list of dates.")
    closures: dict[dt.date, str] = {}
    for index, entry in enumerate(value):
        path = f"closures[{index}]"
        reason = ""
        if isinstance(entry, dict):
            _reject_unknown_keys(entry, {"date", "reason"}, path)
            reason = _text(entry.get("reason", ""), f"{path}.reason", max_length=200, required=False)
            entry = entry.get("date")
        if isinstance(entry, dt.date):  # YAML parses bare dates itself
            day = entry
        else:
            try:
                day = dt.date.fromisoformat(str(entry))
            except ValueError as exc:
                raise TenantSpecError(path, 'must be a date such as "2026-12-25".') from exc
        closures[day] = reason
    return sorted(closures.items())


def _validate_country(value: Any) -> str | None:
    if value is None:
        return None
    code = value.strip().upper() if isinstance(value, str) else ""
    if not is_phone_region(code):
        raise TenantSpecError("country", "must be a two-letter ISO country code such as US, GB or DE.")
    return code


def _number_region(spec: dict, country: str | None, slug: str) -> str:
    """The country in which the spec's numbers without a country code are read: the spec's
    `country`, else the existing tenant's, else the first number written with its country code."""
    if country:
        return country
    existing = Tenant.objects.filter(schema_name=slug).values_list("country", flat=True).first()
    if existing:
        return existing
    numbers = spec.get("phone_numbers")
    for raw in numbers if isinstance(numbers, list) else []:
        if isinstance(raw, str) and raw.strip().startswith("+"):
            return phone_region(raw.strip())
    return DEFAULT_REGION


def _validate_phone_numbers(value: Any, slug: str, *, region: str) -> list[str]:
    if not isinstance(value, list):
        raise TenantSpecError("phone_numbers", "must be a list of phone numbers.")
    numbers = []
    for index, raw in enumerate(value):
        path = f"phone_numbers[{index}]"
        try:
            number = normalize_phone_number(str(raw) if isinstance(raw, (str, int)) else "", default_region=region)
        except InvalidPhoneNumber as exc:
            raise TenantSpecError(path, str(exc)) from exc
        owner = PhoneNumber.objects.filter(number=number).exclude(tenant__schema_name=slug).select_related("tenant").first()
        if owner is not None:
            raise TenantSpecError(path, f"{number} already belongs to another tenant ({owner.tenant.schema_name}).")
        if number not in numbers:
            numbers.append(number)
    return numbers


def tenant_spec_validate(spec: Any) -> TenantSpec:
    """Check a whole spec; raise `TenantSpecError` naming the first bad field."""
    spec = _require_mapping(spec, "spec")
    _reject_unknown_keys(spec, TOP_LEVEL_KEYS, "")
    for key in sorted(REQUIRED_KEYS):
        if key not in spec:
            raise TenantSpecError(key, "is required.")

    slug = spec["slug"]
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug) or slug in RESERVED_SLUGS or slug.startswith("pg_"):
        raise TenantSpecError("slug", "must be 2–40 lowercase letters, digits or underscores, starting with a letter.")
    name = _text(spec["name"], "name", max_length=200)
    domain = spec["domain"]
    if not isinstance(domain, str) or not DOMAIN_PATTERN.match(domain.lower()):
        raise TenantSpecError("domain", "must be a host name such as salon.example.com.")
    domain = domain.lower()
    if Domain.objects.filter(domain=domain).exclude(tenant__schema_name=slug).exists():
        raise TenantSpecError("domain", f"{domain} already belongs to another tenant.")
    timezone = spec["timezone"]
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise TenantSpecError("timezone", f"{timezone!r} is not an IANA time zone such as America/New_York.") from exc
    country = _validate_country(spec.get("country"))
    region = _number_region(spec, country, slug)
    currency = _currency(spec["currency"], "currency") if spec.get("currency") is not None else None
    # What the items are checked against: the spec's currency, else the existing tenant's, else the
    # one a new tenant will get from its country.
    business_currency = currency or Tenant.objects.filter(schema_name=slug).values_list("currency", flat=True).first() \
        or country_currency(country or region)

    owner = None
    if spec.get("owner") is not None:
        owner = _require_mapping(spec["owner"], "owner")
        _reject_unknown_keys(owner, {"email", "password"}, "owner")
        email = _text(owner.get("email"), "owner.email", max_length=150)
        try:
            validate_email(email)
        except ValidationError as exc:
            raise TenantSpecError("owner.email", "must be an email address.") from exc
        # Without a password the owner chooses their own by an emailed link (the operator's "New
        # business" form); a spec's password is for demos and scripted setups.
        password = None
        if owner.get("password") is not None:
            password = _text(owner.get("password"), "owner.password", max_length=128)
            if len(password) < 8:
                raise TenantSpecError("owner.password", "must be at least 8 characters.")
        owner = {"email": email.lower(), "password": password}

    escalation = None
    if spec.get("escalation") is not None:
        raw = _require_mapping(spec["escalation"], "escalation")
        _reject_unknown_keys(raw, {"transfer_to", "hours"}, "escalation")
        try:
            transfer_to = normalize_transfer_target(str(raw.get("transfer_to") or ""), region=region)
        except ValidationError as exc:
            raise TenantSpecError("escalation.transfer_to", exc.messages[0]) from exc
        escalation = {"transfer_to": transfer_to, "hours": validate_weekly_ranges(raw.get("hours") or {}, "escalation.hours")}

    booking_rules = None
    if spec.get("booking_rules") is not None:
        raw = _require_mapping(spec["booking_rules"], "booking_rules")
        _reject_unknown_keys(raw, BOOKING_RULE_KEYS, "booking_rules")
        booking_rules = {
            "min_notice_minutes": _whole_number(raw.get("min_notice_minutes", 60), "booking_rules.min_notice_minutes", minimum=0, maximum=60 * 24 * 30),
            "horizon_days": _whole_number(raw.get("horizon_days", 60), "booking_rules.horizon_days", minimum=1, maximum=730),
            "slot_interval_minutes": _whole_number(raw.get("slot_interval_minutes", 15), "booking_rules.slot_interval_minutes", minimum=5, maximum=240),
            "change_notice_hours": _whole_number(raw.get("change_notice_hours", 0), "booking_rules.change_notice_hours", minimum=0, maximum=24 * 30),
        }

    ordering = None
    if spec.get("ordering") is not None:
        raw = _require_mapping(spec["ordering"], "ordering")
        _reject_unknown_keys(raw, ORDERING_KEYS, "ordering")
        ordering = {
            "prep_minutes": _whole_number(raw.get("prep_minutes", 20), "ordering.prep_minutes",
                                          minimum=OrderingPolicy.PREP_MINUTES_RANGE[0], maximum=OrderingPolicy.PREP_MINUTES_RANGE[1]),
            "delivery_minutes": _whole_number(raw.get("delivery_minutes", 30), "ordering.delivery_minutes",
                                              minimum=OrderingPolicy.DELIVERY_MINUTES_RANGE[0],
                                              maximum=OrderingPolicy.DELIVERY_MINUTES_RANGE[1]),
            "delivery_available": _boolean(raw.get("delivery_available", True), "ordering.delivery_available"),
        }

    try:
        notifications = (notifications_spec_validate(spec["notifications"], region=region)
                         if spec.get("notifications") is not None else None)
        webhooks = webhooks_spec_validate(spec["webhooks"]) if spec.get("webhooks") is not None else None
    except FollowUpSpecError as error:
        raise TenantSpecError(error.field, error.message) from None

    return TenantSpec(
        slug=slug,
        name=name,
        domain=domain,
        timezone=timezone,
        country=country,
        currency=currency,
        capabilities=_validate_capabilities(spec.get("capabilities")),
        phone_numbers=_validate_phone_numbers(spec.get("phone_numbers", []), slug, region=region),
        owner=owner,
        agent=_validate_agent(spec.get("agent"), name),
        hours=validate_weekly_ranges(spec["hours"], "hours") if spec.get("hours") is not None else None,
        closures=_validate_closures(spec["closures"]) if spec.get("closures") is not None else None,
        escalation=escalation,
        booking_rules=booking_rules,
        services=_validate_services(spec["services"], business_currency) if spec.get("services") is not None else None,
        ordering=ordering,
        menu=_validate_menu(spec["menu"], business_currency) if spec.get("menu") is not None else None,
        facts=validate_facts(spec["facts"]) if spec.get("facts") is not None else None,
        notifications=notifications,
        webhooks=webhooks,
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
# settings, hours, prices or the users: those stay with the owner.
FRONT_DESK_PERMISSIONS = {
    "bookings": ["view_booking", "add_booking", "change_booking", "view_service"],
    "hours": ["view_openinghours", "view_closure"],
    "calls": ["view_call", "view_callbackrequest", "change_callbackrequest"],
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


def _write_tenant_schema(spec: TenantSpec, changes: list[str]):
    """Write the schema's side of the spec; return the owner account it created, if it did."""
    owner_created = None

    if spec.owner:
        # The spec's password is only the first one. An existing owner is left exactly as they are:
        # re-provisioning (and `seed_demo` on every start) used to reset a changed password to the
        # one in the spec (for the demo tenants, the one printed in the README) and re-grant
        # superuser to an account the business had deliberately limited or disabled.
        user_model = get_user_model()
        if not user_model.objects.filter(username=spec.owner["email"]).exists():
            owner_created = user_model.objects.create_superuser(
                username=spec.owner["email"], email=spec.owner["email"], password=spec.owner["password"])
            changes.append("owner created")
    _front_desk_group_ensure(changes)

    agent_values = dict(spec.agent)
    current_agent = AgentSettings.objects.first()
    if spec.capabilities is not None:
        agent_values["capabilities"] = spec.capabilities
    elif current_agent is None:
        # A new business does what its spec sells: services are booked, a menu is ordered from.
        sells = (bool(spec.services), bool(spec.menu))
        agent_values["capabilities"] = {(True, False): "bookings", (False, True): "orders"}.get(sells, "both")
    if spec.escalation is not None:
        agent_values["transfer_to"] = spec.escalation["transfer_to"]
    _update_fields(current_agent or AgentSettings(), agent_values, changes, "agent")
    if spec.escalation is not None:
        _replace_weekly_ranges(EscalationHours, {d: spec.escalation["hours"].get(d, []) for d in range(7)},
                               "starts", "ends", changes, "escalation hours")
    if spec.hours is not None:
        _replace_weekly_ranges(OpeningHours, {d: spec.hours.get(d, []) for d in range(7)},
                               "opens", "closes", changes, "opening hours")
    if spec.closures is not None:
        wanted = dict(spec.closures)
        removed, _ = Closure.objects.exclude(date__in=wanted).delete()
        for day, reason in wanted.items():
            closure = Closure.objects.filter(date=day).first() or Closure(date=day)
            _update_fields(closure, {"reason": reason}, changes, f"closure {day}")
        if removed:
            changes.append("closures removed")
    if spec.booking_rules is not None:
        _update_fields(BookingPolicy.objects.first() or BookingPolicy(), spec.booking_rules, changes, "booking rules")
    if spec.services is not None:
        _upsert_by_name(Service, spec.services, "active", changes, "service")
    if spec.ordering is not None:
        _update_fields(OrderingPolicy.objects.first() or OrderingPolicy(), spec.ordering, changes, "ordering rules")
    if spec.menu is not None:
        _upsert_by_name(MenuItem, spec.menu, "available", changes, "menu item")
    if spec.facts is not None:
        _replace_facts(spec.facts, changes)
    prices_in_tenant_currency(changes=changes)
    followups_spec_apply(notifications=spec.notifications, webhooks=spec.webhooks, changes=changes)
    if spec.notifications is None and "owner created" in changes:
        # A new business hears of its calls from the first day: the owner's email is the recipient
        # until the owner (or a spec) says otherwise.
        notification_settings = notification_settings_get()
        if not notification_settings.emails:
            notification_settings.emails = [spec.owner["email"]]
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
    """Create the tenant described by `spec`, or bring an existing one (same slug) in line with it."""
    validated = tenant_spec_validate(spec)
    changes: list[str] = []
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(schema_name=validated.slug).first()
        created = tenant is None
        if created:
            # Saving creates the schema and runs the tenant migrations inside this transaction, so
            # a failure later in provisioning rolls the schema back too.
            tenant = Tenant(schema_name=validated.slug)
        country = validated.country or (phone_region(validated.phone_numbers[0]) if created and validated.phone_numbers
                                        else tenant.country)
        currency = validated.currency or (country_currency(country) if created else tenant.currency)
        _update_fields(tenant, {"name": validated.name, "timezone": validated.timezone, "country": country,
                                "currency": currency}, changes, "tenant")

        domain = tenant.domains.filter(domain=validated.domain).first()
        if domain is None:
            tenant.domains.update(is_primary=False)
            Domain.objects.create(domain=validated.domain, tenant=tenant, is_primary=True)
            changes.append(f"domain {validated.domain} added")
        elif not domain.is_primary:
            tenant.domains.update(is_primary=False)
            domain.is_primary = True
            domain.save()
            changes.append(f"domain {validated.domain} made primary")

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
    with transaction.atomic():
        if tenant.phone_numbers.exists():
            sip_sync_request()  # its numbers leave LiveKit's trunk after the commit
        tenant.delete(force_drop=True)
