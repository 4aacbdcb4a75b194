"""The tenant spec (demo/salon.yaml, `manage.py provision_tenant`, the operator's provision form) as
typed models: `tenant_spec_parse(raw)` turns a parsed YAML/JSON mapping into a `TenantSpec` or raises
`TenantSpecError` naming the first bad field the way an operator reads a spec (`services[2].duration_minutes`).

Parsing needs no database. What does — a domain or number another tenant owns, numbers read in the
country of an existing tenant — is checked after parsing, by `provisioning.services.tenant_spec_validate`.

Every model refuses keys it does not know. Lengths, ranges and defaults come from the Django models the
spec is written into (`column()`), never copied, so the admin and a spec cannot disagree. Adding a field
that a section writes into its model (agent → AgentSettings, booking_rules → BookingPolicy, ordering →
OrderingPolicy, services → Service, menu → MenuItem) is one line here: `name: type = column(Model, "name")`;
a top-level field written to the Tenant row is one line marked `TENANT_COLUMN`.
"""
from __future__ import annotations

import datetime as dt
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo

from bookings.models import (
    BOOKING_POLICY_RANGES,
    SERVICE_BUFFER_MINUTES_RANGE,
    SERVICE_CAPACITY_RANGE,
    SERVICE_DURATION_MINUTES_RANGE,
    BookingPolicy,
    Service,
)
from core.catalogs import language_choice_problem
from core.weekdays import WEEKDAY_KEYS
from notifications.models import NotificationEvent
from orders.models import MenuItem, OrderingPolicy
from tenants.agent.models import FACTS_TOTAL_MAX, AgentSettings, BusinessFact
from tenants.hours.models import Closure
from tenants.models import Domain, Tenant
from webhooks.addresses import EndpointRefused, endpoint_url_check
from webhooks.models import WebhookEndpoint, WebhookEvent

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
RESERVED_SLUGS = {"public", "information_schema", "postgres", "admin", "internal", "www"}
# Marks a top-level field written to the Tenant row under its own name.
TENANT_COLUMN = "tenant column"
ModelT = typing.TypeVar("ModelT", bound=BaseModel)


class TenantSpecError(ValueError):
    """A spec that cannot be provisioned. `field` names where in the spec the problem is."""

    def __init__(self, field_path: str, message: str):
        self.field = field_path
        self.message = message
        super().__init__(f"{field_path}: {message}")


class SpecProblem(ValueError):
    """Raised by a validator: `at` continues the path below the value validated (a list's
    `[1].name`, a section's `.first_warning_seconds`)."""

    def __init__(self, message: str, *at: str | int):
        super().__init__(message)
        self.message, self.at = message, at


# --- ranges, lengths and defaults from the models ------------------------------------------------

def _model_range(model: type[models.Model], name: str) -> tuple[Any, Any]:
    """The tightest bounds the field's own validators set (a PositiveIntegerField also carries the
    database's integer range)."""
    validators = model._meta.get_field(name).validators
    low = max((v.limit_value for v in validators if isinstance(v, MinValueValidator)), default=None)
    high = min((v.limit_value for v in validators if isinstance(v, MaxValueValidator)), default=None)
    return low, high


def column(model: type[models.Model], name: str, *, bounds: tuple[Any, Any] | None = None, **extra: Any) -> Any:
    """A spec field for `model.name`: its default (required when the model has none), its max_length,
    and its bounds (`bounds`, a range constant of the model's, or else its own validators)."""
    field = model._meta.get_field(name)
    if field.has_default():
        extra.setdefault("default", field.get_default())
    elif field.null:
        extra.setdefault("default", None)
    elif field.blank:
        extra.setdefault("default", "")
    if isinstance(field, (models.CharField, models.TextField)) and field.max_length:
        extra.setdefault("max_length", field.max_length)
        extra.setdefault("min_length", 0 if field.blank else 1)
    if isinstance(field, (models.IntegerField, models.DecimalField)):
        low, high = bounds if bounds is not None else _model_range(model, name)
        if low is not None:
            extra.setdefault("ge", low)
        if high is not None:
            extra.setdefault("le", high)
    return Field(**extra)


def _text(max_length: int) -> Any:
    return Annotated[str, Field(strict=True, min_length=1, max_length=max_length)]


def _int_as_text(value: Any) -> Any:
    # A phone number written without quotes is a YAML integer.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _money(model: type[models.Model], name: str) -> Any:
    field = model._meta.get_field(name)
    places = field.decimal_places
    largest = Decimal(10) ** (field.max_digits - places) - Decimal(10) ** -places
    step = Decimal(10) ** -places

    def parse(value: Any) -> Decimal:
        # Floats are read by their text: YAML `12.50` is a float, and str(12.5) is exact for prices
        # with two decimals.
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise ValueError("must be a price such as 12.50.")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError("must be a price such as 12.50.") from None
        if not amount.is_finite() or amount < 0 or amount > largest or amount != amount.quantize(step):
            raise ValueError(f"must be a price from 0 to {largest} with at most {places} decimals.")
        return amount.quantize(step)

    return Annotated[Decimal, BeforeValidator(parse)]


def _currency(value: Any) -> Any:
    from babel.numbers import is_currency

    if not isinstance(value, str) or not is_currency(value.strip().upper()):
        raise ValueError("must be a three-letter currency code such as USD.")
    return value.strip().upper()


Currency = Annotated[str, BeforeValidator(_currency)]


def _model_validators(model: type[models.Model], name: str) -> Any:
    """Run the model field's own validators (Tenant.timezone, Tenant.country) on the value."""
    def check(value: str) -> str:
        for validator in model._meta.get_field(name).validators:
            try:
                validator(value)
            except ValidationError as error:
                raise ValueError(" ".join(error.messages)) from None
        return value

    return AfterValidator(check)


# --- the models ----------------------------------------------------------------------------------

class SpecModel(BaseModel):
    """Refuses keys it does not know; takes YAML's empty value (`key:`) for a key left out."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_left_out(cls, value: Any, info: Any) -> Any:
        field = cls.model_fields[info.field_name]
        if value is None and not field.is_required() and field.get_default(call_default_factory=True) is not None:
            return field.get_default(call_default_factory=True)
        return value


def _clock_time(value: Any) -> dt.time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise ValueError('must be a time such as "09:00".')
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return dt.time(23, 59, 59)
    if hours > 23 or minutes > 59:
        raise ValueError('must be a time such as "09:00".')
    return dt.time(hours, minutes)


def _time_range(value: Any) -> tuple[dt.time, dt.time]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError('must be a ["HH:MM", "HH:MM"] pair.')
    opens, closes = _clock_time(value[0]), _clock_time(value[1])
    if opens >= closes:
        raise ValueError("must open before it closes.")
    return opens, closes


def _no_overlap(ranges: list[tuple[dt.time, dt.time]]) -> list[tuple[dt.time, dt.time]]:
    ranges = sorted(ranges)
    for (_, previous_close), (next_open, _) in zip(ranges, ranges[1:], strict=False):
        if next_open < previous_close:
            raise ValueError("has overlapping ranges.")
    return ranges


TimeRange = Annotated[tuple[dt.time, dt.time], BeforeValidator(_time_range)]
DayRanges = Annotated[list[TimeRange], AfterValidator(_no_overlap)]


class WeeklyRanges(SpecModel):
    """`{mon: [["09:00", "12:00"], ["13:00", "18:00"]], …}`; a day left out is closed."""

    mon: DayRanges = []
    tue: DayRanges = []
    wed: DayRanges = []
    thu: DayRanges = []
    fri: DayRanges = []
    sat: DayRanges = []
    sun: DayRanges = []

    def by_weekday(self) -> dict[int, list[tuple[dt.time, dt.time]]]:
        return {index: getattr(self, key) for index, key in enumerate(WEEKDAY_KEYS)}


if tuple(WeeklyRanges.model_fields) != tuple(WEEKDAY_KEYS):
    raise RuntimeError("WeeklyRanges must have one field per core.weekdays.WEEKDAY_KEYS, in order")


def _email(value: str) -> str:
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError("must be an email address.") from None
    return value


def _login_email(value: str) -> str:
    # The owner logs in with it: one account whatever the capitals.
    return _email(value).lower()


def _password(value: str) -> str:
    # The platform's own password rules (AUTH_PASSWORD_VALIDATORS), as for any other account.
    try:
        validate_password(value)
    except ValidationError as error:
        raise ValueError(" ".join(error.messages)) from None
    return value


_user_field = get_user_model()._meta.get_field


class OwnerSpec(SpecModel):
    email: Annotated[_text(_user_field("username").max_length), AfterValidator(_login_email)]
    # Left out: the owner chooses their own by an emailed link (the operator's "New business" form).
    password: Annotated[_text(_user_field("password").max_length), AfterValidator(_password)] | None = None


def _call_language(value: str) -> str:
    # A new business chooses among the offered languages (complete catalogs: core/catalogs.py).
    if problem := language_choice_problem(value):
        raise ValueError(problem)
    return value


def _voice_speed(value: Any) -> Decimal:
    # YAML gives 1.1 as a float: read its text, as for prices; the model keeps two decimals.
    low, high = _model_range(AgentSettings, "voice_speed")
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise InvalidOperation
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"must be a number from {low} to {high}.") from None


def _choice(model: type[models.Model], name: str) -> Any:
    """A text field that takes one of the model field's choices, and says which."""
    values = [value for value, _label in model._meta.get_field(name).choices]

    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"must be one of: {', '.join(values)}.")
        return value
    return Annotated[str, AfterValidator(check)]


class AgentSpec(SpecModel):
    """Written into AgentSettings field by field. `business_name` and `greeting` default to the
    tenant's name (TenantSpec fills them)."""

    business_name: str | None = column(AgentSettings, "business_name", default=None, strict=True)
    greeting: str | None = column(AgentSettings, "greeting", default=None, strict=True)
    instructions: str = column(AgentSettings, "instructions", strict=True)
    voice_id: str = column(AgentSettings, "voice_id", strict=True)
    voice_speed: Annotated[Decimal, BeforeValidator(_voice_speed)] = column(AgentSettings, "voice_speed")
    language: Annotated[str, AfterValidator(_call_language)] = column(AgentSettings, "language", strict=True)
    max_call_seconds: int = column(AgentSettings, "max_call_seconds", strict=True)
    first_warning_seconds: int = column(AgentSettings, "first_warning_seconds",
                                        bounds=AgentSettings.WARNING_SECONDS_RANGE, strict=True)
    final_warning_seconds: int = column(AgentSettings, "final_warning_seconds",
                                        bounds=AgentSettings.WARNING_SECONDS_RANGE, strict=True)
    sms_confirmations: bool = column(AgentSettings, "sms_confirmations", strict=True)
    callback_promise: str = column(AgentSettings, "callback_promise", strict=True)
    # `0` unquoted is a YAML integer; "#" must be quoted (unquoted, YAML reads a comment).
    keypad_operator_key: Annotated[_choice(AgentSettings, "keypad_operator_key"), BeforeValidator(_int_as_text)] = (
        column(AgentSettings, "keypad_operator_key", strict=True))
    # A transfer nobody takes: how long it rings, and what the agent does then (callback or message).
    escalation_fallback: _choice(AgentSettings, "escalation_fallback") = column(AgentSettings, "escalation_fallback",
                                                                                strict=True)
    transfer_ringing_seconds: int = column(AgentSettings, "transfer_ringing_seconds", strict=True)
    transfer_text_staff: bool = column(AgentSettings, "transfer_text_staff", strict=True)
    # cold (a SIP REFER) or warm (the agent briefs the person first: voiceworker/warm_transfer.py).
    transfer_mode: Literal["cold", "warm"] = AgentSettings.TransferMode.COLD.value
    # Call recordings: off unless the spec turns them on; an empty disclosure is the standard one in
    # the agent's language.
    record_calls: bool = column(AgentSettings, "record_calls", strict=True)
    recording_disclosure: str = column(AgentSettings, "recording_disclosure", strict=True)
    recording_retention_days: int = column(AgentSettings, "recording_retention_days", strict=True)
    recording_retention_deletes_transcript: bool = column(AgentSettings, "recording_retention_deletes_transcript",
                                                          strict=True)
    # Callbacks the agent returns itself (calls/callback_dialing.py): off unless the spec turns them on.
    agent_returns_callbacks: bool = column(AgentSettings, "agent_returns_callbacks", strict=True)
    callback_max_attempts: int = column(AgentSettings, "callback_max_attempts", strict=True)
    callback_retry_minutes: int = column(AgentSettings, "callback_retry_minutes", strict=True)
    callback_max_concurrent: int = column(AgentSettings, "callback_max_concurrent", strict=True)
    callback_window_start_hour: int = column(AgentSettings, "callback_window_start_hour", strict=True)
    callback_window_end_hour: int = column(AgentSettings, "callback_window_end_hour", strict=True)
    callback_abroad_allowed: bool = column(AgentSettings, "callback_abroad_allowed", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _operator_key_is_given(cls, data: Any) -> Any:
        # An empty value is a key left out elsewhere; here it is nearly always an unquoted "#", which
        # YAML reads as a comment: leaving the key at 0 would be a surprise on the phone.
        if isinstance(data, dict) and "keypad_operator_key" in data and data["keypad_operator_key"] is None:
            raise SpecProblem('must be one key, 0-9, * or # (write "#" in quotes: unquoted, YAML reads a comment).',
                              "keypad_operator_key")
        return data

    @model_validator(mode="after")
    def _warnings_fit_inside_the_call(self) -> AgentSpec:
        # The same rule as AgentSettings.clean() and its check constraint, with the spec's words.
        if self.first_warning_seconds >= self.max_call_seconds:
            raise SpecProblem("must be shorter than max_call_seconds.", "first_warning_seconds")
        if self.final_warning_seconds >= self.first_warning_seconds:
            raise SpecProblem("must be shorter than first_warning_seconds.", "final_warning_seconds")
        if self.callback_window_end_hour <= self.callback_window_start_hour:
            raise SpecProblem("must be later than callback_window_start_hour.", "callback_window_end_hour")
        return self


class EscalationSpec(SpecModel):
    # Read as a number of the tenant's country, so checked after parsing (services.tenant_spec_validate).
    transfer_to: Annotated[str, BeforeValidator(_int_as_text)] = Field("", strict=True)
    hours: WeeklyRanges = Field(default_factory=WeeklyRanges)


def _policy_column(name: str) -> Any:
    return column(BookingPolicy, name, bounds=BOOKING_POLICY_RANGES[name], strict=True)


class BookingRulesSpec(SpecModel):
    min_notice_minutes: int = _policy_column("min_notice_minutes")
    horizon_days: int = _policy_column("horizon_days")
    slot_interval_minutes: int = _policy_column("slot_interval_minutes")
    change_notice_hours: int = _policy_column("change_notice_hours")
    # What a caller must give to move or cancel a booking by phone (bookings/verification.py).
    change_verification: _choice(BookingPolicy, "change_verification") = column(BookingPolicy, "change_verification",
                                                                                  strict=True)


class OrderingSpec(SpecModel):
    prep_minutes: int = column(OrderingPolicy, "prep_minutes", bounds=OrderingPolicy.PREP_MINUTES_RANGE, strict=True)
    delivery_minutes: int = column(OrderingPolicy, "delivery_minutes", bounds=OrderingPolicy.DELIVERY_MINUTES_RANGE,
                                   strict=True)
    delivery_available: bool = column(OrderingPolicy, "delivery_available", strict=True)


def _aliases(model: type[models.Model]) -> Any:
    return list[_text(model._meta.get_field("aliases").base_field.max_length)]


class ServiceSpec(SpecModel):
    name: str = column(Service, "name", strict=True)
    duration_minutes: int = column(Service, "duration_minutes", bounds=SERVICE_DURATION_MINUTES_RANGE, strict=True)
    buffer_minutes: int = column(Service, "buffer_minutes", bounds=SERVICE_BUFFER_MINUTES_RANGE, strict=True)
    capacity: int = column(Service, "capacity", bounds=SERVICE_CAPACITY_RANGE, strict=True)
    price: _money(Service, "price") | None = column(Service, "price")
    # The business's one currency (TenantSpec.currency); an item may only repeat it.
    currency: Currency | None = None
    aliases: _aliases(Service) = column(Service, "aliases")
    description: str = column(Service, "description", strict=True)


class MenuItemSpec(SpecModel):
    name: str = column(MenuItem, "name", strict=True)
    price: _money(MenuItem, "price") = column(MenuItem, "price")
    currency: Currency | None = None
    aliases: _aliases(MenuItem) = column(MenuItem, "aliases")
    available: bool = column(MenuItem, "available", strict=True)
    category: str = column(MenuItem, "category", strict=True)
    description: str = column(MenuItem, "description", strict=True)


class FactSpec(SpecModel):
    topic: str = column(BusinessFact, "topic", strict=True)
    answer: str = column(BusinessFact, "answer", strict=True)


def _closure_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):  # YAML parses bare dates itself
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError('must be a date such as "2026-12-25".') from None


class ClosureSpec(SpecModel):
    date: Annotated[dt.date, BeforeValidator(_closure_date)]
    reason: str = column(Closure, "reason", strict=True)


def _bare_date_is_a_closure(value: Any) -> Any:
    # `- 2026-12-25` is a closure without a reason.
    return value if isinstance(value, dict) else {"date": _closure_date(value)}


def _quiet_time(value: Any) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ValueError('must be a time like "22:00".') from None


class QuietHoursSpec(SpecModel):
    starts: Annotated[dt.time, BeforeValidator(_quiet_time)] = Field(alias="from")
    ends: Annotated[dt.time, BeforeValidator(_quiet_time)] = Field(alias="to")

    @model_validator(mode="before")
    @classmethod
    def _both_ends(cls, value: Any) -> Any:
        if isinstance(value, dict) and not {"from", "to"} <= set(value):
            raise ValueError("needs both from and to.")
        return value


def _known(values: set[str]) -> Any:
    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"unknown event (one of: {', '.join(sorted(values))}).")
        return value
    return Annotated[str, AfterValidator(check)]


class NotificationsSpec(SpecModel):
    """Who hears of what follows a call (provisioning/followups.py writes it)."""

    emails: list[Annotated[str, AfterValidator(_email)]] = []
    # Read as numbers of the tenant's country, so checked after parsing.
    sms: list[Annotated[str, BeforeValidator(_int_as_text)]] = []
    # Left out: every event; [] : none.
    events: list[_known(set(NotificationEvent.values))] | None = None
    quiet_hours: QuietHoursSpec | None = None


def _webhook_url(value: str) -> str:
    # The admin's and delivery's rule (webhooks/addresses.py): https only, no user:password@, no
    # private, loopback or other special-purpose address.
    try:
        endpoint_url_check(value, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    except EndpointRefused as exc:
        raise ValueError(str(exc)) from None
    return value


def _webhook_secret(value: str | None) -> str | None:
    if value is not None and (not value.startswith("whsec_") or len(value) < 30):
        raise ValueError("must be a whsec_… secret (or left out to generate one).")
    return value


class WebhookSpec(SpecModel):
    url: Annotated[str, Field(strict=True, max_length=WebhookEndpoint._meta.get_field("url").max_length),
                   AfterValidator(_webhook_url)]
    secret: Annotated[str | None, Field(strict=True), AfterValidator(_webhook_secret)] = None
    events: list[_known(set(WebhookEvent.values))] = []


def _endpoints_fit(endpoints: list[WebhookSpec]) -> list[WebhookSpec]:
    # The admin's cap (webhooks.services.webhook_endpoint_check), read when the spec is.
    if len(endpoints) > settings.WEBHOOK_ENDPOINTS_MAX:
        raise SpecProblem(f"at most {settings.WEBHOOK_ENDPOINTS_MAX} endpoints.")
    return endpoints


def _slug(value: str) -> str:
    if not SLUG_PATTERN.match(value) or value in RESERVED_SLUGS or value.startswith("pg_"):
        raise ValueError("must be 2–40 lowercase letters, digits or underscores, starting with a letter.")
    return value


def _domain(value: str) -> str:
    value = value.lower()
    if not DOMAIN_PATTERN.match(value):
        raise ValueError("must be a host name such as salon.example.com.")
    return value


def _country(value: str) -> str:
    return value.upper()


def _unique_names(entries: list[Any], *, key: str = "name") -> list[Any]:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        name = getattr(entry, key)
        if name.lower() in seen:
            raise SpecProblem(f"{name!r} appears twice.", index, key)
        seen.add(name.lower())
    return entries


def _facts_fit(facts: list[FactSpec]) -> list[FactSpec]:
    _unique_names(facts, key="topic")
    # Every call's instructions carry them: a long list costs tokens on every turn.
    total = sum(len(fact.topic) + len(fact.answer) for fact in facts)
    if total > FACTS_TOTAL_MAX:
        raise ValueError(f"are {total} characters in all; keep them under {FACTS_TOTAL_MAX}.")
    return facts


class TenantSpec(SpecModel):
    """A whole spec. A section left out (None) leaves what an existing tenant has alone."""

    slug: Annotated[str, Field(strict=True), AfterValidator(_slug)]
    name: Annotated[str, TENANT_COLUMN] = column(Tenant, "name", strict=True)
    domain: Annotated[str, Field(strict=True, max_length=Domain._meta.get_field("domain").max_length),
                      AfterValidator(_domain)]
    timezone: Annotated[str, TENANT_COLUMN, Field(strict=True), _model_validators(Tenant, "timezone")]
    # None: keep an existing tenant's country; a new one takes its first number's.
    country: Annotated[str, Field(strict=True), AfterValidator(_country), _model_validators(Tenant, "country")] | None = None
    # Every price and order is in it. None: keep an existing tenant's; a new one takes its country's.
    currency: Currency | None = None
    # What callers can do. None: keep an existing tenant's; a new one's follows what it sells.
    capabilities: Literal["bookings", "orders", "both"] | None = None
    # Numbers are read in the tenant's country, so they are checked after parsing.
    phone_numbers: list[Annotated[str, BeforeValidator(_int_as_text), Field(strict=True)]] = []
    owner: OwnerSpec | None = None
    agent: AgentSpec = Field(default_factory=AgentSpec)
    hours: WeeklyRanges | None = None
    closures: list[Annotated[ClosureSpec, BeforeValidator(_bare_date_is_a_closure)]] | None = None
    escalation: EscalationSpec | None = None
    booking_rules: BookingRulesSpec | None = None
    services: Annotated[list[ServiceSpec], AfterValidator(_unique_names)] | None = None
    ordering: OrderingSpec | None = None
    menu: Annotated[list[MenuItemSpec], AfterValidator(_unique_names)] | None = None
    facts: Annotated[list[FactSpec], AfterValidator(_facts_fit)] | None = None
    notifications: NotificationsSpec | None = None
    webhooks: Annotated[list[WebhookSpec], AfterValidator(_endpoints_fit)] | None = None

    @model_validator(mode="after")
    def _agent_named_after_the_business(self) -> TenantSpec:
        if self.agent.business_name is None:
            self.agent.business_name = self.name
        if self.agent.greeting is None:
            self.agent.greeting = f"Thanks for calling {self.name}, how can I help?"
        return self

    def tenant_columns(self) -> dict[str, Any]:
        """The top-level fields marked TENANT_COLUMN, as the Tenant row stores them."""
        return {name: getattr(self, name) for name, field in type(self).model_fields.items()
                if TENANT_COLUMN in field.metadata}

    def closure_days(self) -> list[tuple[dt.date, str]]:
        """The closures by date (a date given twice: the last reason)."""
        return sorted({closure.date: closure.reason for closure in self.closures or []}.items())


def tenant_spec_parse(raw: Any) -> TenantSpec:
    """A parsed YAML/JSON spec → TenantSpec, or TenantSpecError naming the first bad field."""
    return spec_parse(TenantSpec, raw)


def tenant_spec_section_parse(name: str, value: Any) -> Any:
    """One section of a spec on its own (`notifications`, `webhooks`, …), with the paths it has in a
    whole spec."""
    field = TenantSpec.model_fields[name]
    section = create_model(f"{name}_section", __base__=SpecModel, **{name: (field.annotation, field)})
    return getattr(spec_parse(section, {name: value}), name)


def spec_parse(model: type[ModelT], raw: Any) -> ModelT:
    if not isinstance(raw, dict):
        raise TenantSpecError("spec", "must be a mapping of keys to values.")
    try:
        return model.model_validate(raw)
    except PydanticValidationError as error:
        errors = error.errors()
        # A misspelt key is also a missing one; the misspelling is what to fix.
        first = next((problem for problem in errors if problem["type"] == "extra_forbidden"), errors[0])
        loc, message = _described(model, tuple(first["loc"]), first)
        raise TenantSpecError(_path(loc) or "spec", message) from None


# --- error paths and sentences ---------------------------------------------------------------------

def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unwrapped(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
            annotation = arms[0] if len(arms) == 1 else annotation
            if len(arms) != 1:
                return annotation
        else:
            return annotation


def _field_named(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _walk(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Any, FieldInfo | None]:
    """The type found at `loc` of `root`, and the field it is (None for a list item)."""
    annotation: Any = root
    field: FieldInfo | None = None
    for part in loc:
        annotation = _unwrapped(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation, field = (args[0] if args else Any), None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_named(annotation, part)
            annotation = field.annotation if field is not None else Any
        else:
            return Any, None
    return _unwrapped(annotation), field


def _bound(field: FieldInfo | None, name: str) -> Any:
    return next((getattr(item, name) for item in (field.metadata if field else []) if hasattr(item, name)), None)


def _described(model: type[BaseModel], loc: tuple[str | int, ...], error: dict) -> tuple[tuple[str | int, ...], str]:
    """(where, a sentence): pydantic's error in the spec's words."""
    kind, context = error["type"], error.get("ctx") or {}
    # What a validator raised, with the sub-path it named.
    problem = context.get("error")
    if isinstance(problem, SpecProblem):
        return loc + problem.at, problem.message
    if kind in ("value_error", "assertion_error") and problem is not None:
        return loc, str(problem)
    if kind == "extra_forbidden":
        parent, _ = _walk(model, loc[:-1])
        allowed = sorted(field.alias or name for name, field in getattr(parent, "model_fields", {}).items())
        return loc, f"unknown key (allowed: {', '.join(allowed)})."
    _, field = _walk(model, loc)
    low, high = _bound(field, "ge"), _bound(field, "le")
    if kind in ("greater_than_equal", "less_than_equal", "int_type", "int_parsing", "int_from_float"):
        if low is None or high is None:
            return loc, "must be a whole number."
        whole = isinstance(low, int) and isinstance(high, int)
        return loc, f"must be a {'whole number' if whole else 'number'} from {low} to {high}."
    sentences = {
        "missing": "is required.",
        "string_type": "must be text.",
        "string_too_short": "must not be empty.",
        "string_too_long": f"must be at most {context.get('max_length')} characters.",
        "bool_type": "must be true or false.",
        "list_type": "must be a list.",
        "tuple_type": "must be a list.",
        "model_type": "must be a mapping of keys to values.",
        "model_attributes_type": "must be a mapping of keys to values.",
        "dict_type": "must be a mapping of keys to values.",
    }
    return loc, sentences.get(kind, error["msg"])
