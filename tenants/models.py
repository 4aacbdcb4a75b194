"""Public-schema models: who the tenants are, where they are served and which numbers ring them."""
import functools
import zoneinfo

from babel import Locale, UnknownLocaleError
from babel.numbers import get_territory_currencies, is_currency
from django.core.exceptions import ValidationError
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import schema_exists

from core.phone import DEFAULT_REGION, InvalidPhoneNumber, is_phone_region, normalize_phone_number


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone (use an IANA name such as Europe/Berlin).") from exc


def validate_country(value: str) -> None:
    if not is_phone_region(value):
        raise ValidationError(f"{value!r} is not a country code (use a two-letter ISO code such as US, GB or DE).")


def validate_currency(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(f"{value!r} is not a currency code (use a three-letter ISO code such as USD, GBP or EUR).")


def country_currency(country: str) -> str:
    """The currency a business in `country` prices in (CLDR's, through Babel): EUR for DE, GBP for GB."""
    currencies = get_territory_currencies(country, tender=True) if country else []
    return currencies[0] if currencies else "USD"


@functools.cache
def country_uses_12_hour_clock(country: str) -> bool:
    """Whether times are written on the 12-hour clock there (CLDR's short time format of the
    country's most likely locale: `h:mm a` for US, `HH:mm` for DE and GB)."""
    try:
        pattern = Locale.parse(f"und_{country}").time_formats["short"].pattern
    except (UnknownLocaleError, ValueError, KeyError):
        return False
    return "h" in pattern


class Tenant(TenantMixin):
    """A business. Its slug is its PostgreSQL schema name."""

    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Callers say numbers the way people do in that country: "07700 900123" is a UK mobile for a
    # London business and no number at all for one in New York.
    country = models.CharField(
        max_length=2, default=DEFAULT_REGION, validators=[validate_country],
        help_text="Two-letter ISO code. Phone numbers given without a country code are read as numbers of this country.",
    )
    # One currency per business: every price, order and total is in it, so an order can never mix
    # two (a menu item added in "USD" to a EUR pizzeria once made the agent split an order in two).
    currency = models.CharField(
        max_length=3, default="USD", validators=[validate_currency],
        help_text="Three-letter ISO code (EUR, GBP, USD). Every price, order and total of the business is in it.",
    )
    created = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    # Deleting a tenant must leave nothing behind: its schema goes with it.
    auto_drop_schema = True

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """A spare copy of the migrated template renamed (a few ms), else a new copy of the template,
        else django-tenants' CREATE SCHEMA and every tenant migration (tenants/schema_template.py).
        Provisioning asks Celery for the next spare after its commit (provisioning.services)."""
        from tenants.schema_template import spare_schema_claim, template_schema_clone

        if sync_schema and not (check_if_exists and schema_exists(self.schema_name)):
            if spare_schema_claim(schema_name=self.schema_name) or template_schema_clone(schema_name=self.schema_name):
                return True
        return super().create_schema(check_if_exists=check_if_exists, sync_schema=sync_schema, verbosity=verbosity)

    @property
    def slug(self) -> str:
        return self.schema_name

    @property
    def twelve_hour_clock(self) -> bool:
        return country_uses_12_hour_clock(self.country)

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Domain(DomainMixin):
    class Meta:
        ordering = ["domain"]


class PhoneNumber(models.Model):
    """A number that rings a tenant's agent, stored as E.164 so every format the trunk sends finds it."""

    number = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +15550100001")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="phone_numbers")
    label = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class SipStatus(models.TextChoices):
        PENDING = "pending", "waiting for the LiveKit sync"
        LIVE = "live", "live"
        NOT_LIVE = "not_live", "not live"

    # Whether LiveKit's SIP trunk carries this number (tenants/sip_sync.py), as of `sip_checked_at`.
    sip_status = models.CharField(max_length=10, choices=SipStatus.choices, default=SipStatus.PENDING)
    sip_error = models.TextField(blank=True)
    sip_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(condition=models.Q(number__regex=r"^\+[1-9][0-9]{6,14}$"), name="phone_number_is_e164"),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        try:
            region = self.tenant.country if self.tenant_id else DEFAULT_REGION
            self.number = normalize_phone_number(self.number, default_region=region)
        except InvalidPhoneNumber as exc:
            raise ValidationError({"number": str(exc)}) from exc


class SipTrunkStatus(models.Model):
    """The last known state of LiveKit's SIP trunk and dispatch rule against the registry: one row,
    written by every sync and check, read by /healthz and the operator admin (which must not call
    LiveKit to answer)."""

    class State(models.TextChoices):
        IN_STEP = "in_step", "in step"
        DRIFT = "drift", "drift"
        ERROR = "error", "error"

    state = models.CharField(max_length=10, choices=State.choices)
    detail = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    trunk_id = models.CharField(max_length=64, blank=True)
    dispatch_rule_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "SIP trunk status"
        verbose_name_plural = "SIP trunk status"

    def __str__(self) -> str:
        return f"{self.get_state_display()} at {self.checked_at:%Y-%m-%d %H:%M}"


class IngestionDeadLetter(models.Model):
    """A call log the ingestion task could not store after its last retry. Kept in the public schema
    so the operator sees every tenant's failures in one list and can replay them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="dead_letters")
    call_id = models.UUIDField()
    # JSON, as text with every non-ASCII character escaped rather than jsonb: a log that failed
    # because jsonb cannot hold it (a NUL, a lone surrogate) must not fail here for the same reason.
    payload = models.TextField()
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["tenant", "call_id"])]

    def __str__(self) -> str:
        return f"{self.tenant.slug} call {self.call_id}"
