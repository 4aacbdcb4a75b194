"""How a tenant's phone agent behaves. One `AgentSettings` row per tenant schema."""
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.call_contract import KEYPAD_KEYS, KEYPAD_OPERATOR_KEY, TRANSFER_RINGING_SECONDS
from core.phone import InvalidPhoneNumber, is_sip_uri, normalize_phone_number
from core.weekdays import WEEKDAYS


def normalize_transfer_target(value: str, *, region: str | None = None) -> str:
    """A transfer target is a phone number (stored as `tel:+E164`) or a SIP URI. A number without a
    country code is read in `region`, by default the current tenant's country."""
    value = (value or "").strip()
    if not value:
        return ""
    if is_sip_uri(value):
        return value
    try:
        if region is None:
            from tenants.selectors import tenant_phone_region  # tenants.selectors imports public models

            region = tenant_phone_region()
        return "tel:" + normalize_phone_number(value, default_region=region)
    except InvalidPhoneNumber as exc:
        raise ValidationError(f"{value!r} is neither a phone number nor a SIP URI (sip:desk@example.com).") from exc


def transfer_target_loop_check(target: str, *, own_numbers: tuple[str, ...] = ()) -> None:
    """Refuse a transfer target that Soniq itself answers (the business's own number, or any number in
    the platform's registry): the REFER would ring an agent again, which would transfer again — a
    loop that ties up lines and never reaches a person. `own_numbers`: numbers not registered yet
    (a spec being provisioned)."""
    from tenants.selectors import phone_number_registered  # tenants.selectors imports public models

    number = transfer_target_number(target)
    if number and (number in own_numbers or phone_number_registered(number)):
        raise ValidationError(f"{number} is a number Soniq answers (an agent's line), so a transfer there would come "
                              "back to an agent in a loop. Use the number of a phone a person answers.")


def transfer_target_number(target: str) -> str:
    """The E.164 number a normalised target dials: `tel:+E164`, or a SIP URI whose user part is one."""
    if target.startswith("tel:"):
        return target[4:]
    user = target.split(":", 1)[-1].split("@", 1)[0] if is_sip_uri(target) and "@" in target else ""
    user = user.split(";", 1)[0]
    return user if user.startswith("+") and user[1:].isdigit() else ""


# What the agent says before the greeting when calls are recorded, in each language it is offered
# in; a tenant may write its own (`recording_disclosure`). Any other language gets English.
RECORDING_DISCLOSURES = {
    "en": "This call is recorded so we can serve you better.",
    "es": "Esta llamada se graba para poder atenderle mejor.",
    "fr": "Cet appel est enregistré afin de mieux vous servir.",
    "de": "Dieser Anruf wird aufgezeichnet, damit wir Ihnen besser helfen können.",
    "it": "Questa chiamata viene registrata per poterla servire meglio.",
    "pt": "Esta chamada é gravada para podermos atendê-lo melhor.",
    "nl": "Dit gesprek wordt opgenomen zodat we u beter kunnen helpen.",
}
RECORDING_RETENTION_DAYS_MAX = 3650


def recording_disclosure_default(language: str) -> str:
    primary = (language or "").strip().split("-")[0].split("_")[0].lower()
    return RECORDING_DISCLOSURES.get(primary, RECORDING_DISCLOSURES["en"])


class AgentSettings(models.Model):
    class Fallback(models.TextChoices):
        CALLBACK = "callback", "Queue a callback request"
        MESSAGE = "message", "Take a message"

    class TransferMode(models.TextChoices):
        COLD = "cold", "Cold: put the caller straight through"
        WARM = "warm", "Warm: the agent briefs the person first"

    class Capabilities(models.TextChoices):
        BOOKINGS = "bookings", "Bookings (appointments)"
        ORDERS = "orders", "Orders (from a menu)"
        BOTH = "both", "Bookings and orders"
    # Seconds before the end, either warning (inclusive): inside the longest call (max_call_seconds's
    # validators); `clean()` and the check constraint order them.
    WARNING_SECONDS_RANGE = (1, 3599)

    business_name = models.CharField(max_length=200)
    # What the business does on the phone, chosen rather than guessed from its data: a salon that
    # adds a menu item by mistake must not give its agent ordering tools, and must not see Orders.
    capabilities = models.CharField(
        max_length=10, choices=Capabilities.choices, default=Capabilities.BOTH, verbose_name="Callers can make",
        help_text="What the agent offers callers. The admin shows only the sections the business uses.",
    )
    language = models.CharField(max_length=16, default="en", help_text="BCP 47 code the agent speaks first, e.g. en, de, es.")
    greeting = models.TextField(max_length=1000)
    instructions = models.TextField(max_length=20000, blank=True, help_text="The agent's system prompt.")
    voice_id = models.CharField(max_length=100, blank=True, help_text="Cartesia voice id.")
    voice_speed = models.DecimalField(
        max_digits=3, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.60")), MaxValueValidator(Decimal("1.50"))],
    )
    max_call_seconds = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(60), MaxValueValidator(3600)]
    )
    first_warning_seconds = models.PositiveIntegerField(default=120, help_text="Seconds before the end for the first warning.")
    final_warning_seconds = models.PositiveIntegerField(default=30, help_text="Seconds before the end for the final warning.")
    transfer_to = models.CharField(max_length=200, blank=True, help_text="tel:+E164 or sip: URI of the humans who take transfers.")
    transfer_mode = models.CharField(
        max_length=10, choices=TransferMode.choices, default=TransferMode.COLD,
        help_text="Warm: the caller holds while the agent calls your number, says who is calling and why, and "
                  "connects them once you press 1 (2 declines). Needs the outbound SIP trunk (docs/sip.md).",
    )
    escalation_fallback = models.CharField(
        max_length=20, choices=Fallback.choices, default=Fallback.CALLBACK,
        verbose_name="when nobody answers a transfer",
        help_text="What the agent does when the transfer is busy, declined or not answered, after telling the caller.",
    )
    # Long enough for someone to reach the phone, short enough that a caller does not give up
    # listening to ringing (the SIP bridge's own default is 30 s).
    transfer_ringing_seconds = models.PositiveSmallIntegerField(
        default=TRANSFER_RINGING_SECONDS, validators=[MinValueValidator(5), MaxValueValidator(60)], verbose_name="transfer rings for (seconds)",
        help_text="How long a transfer rings before the agent comes back to the caller.",
    )
    transfer_text_staff = models.BooleanField(
        default=False, verbose_name="text the staff phone before a transfer",
        help_text="Send the number you transfer to a text with the caller's number and why they called, as the "
                  "phone rings (phone numbers only, not SIP addresses).",
    )
    callback_promise = models.CharField(
        max_length=200, default="within one business day",
        help_text="What the agent promises when it queues a callback, e.g. 'within two hours'.",
    )
    # A key the caller presses alone (voiceworker/call_actions.Keypad); any other keys are typed
    # digits for the agent (a phone number, a booking reference).
    keypad_operator_key = models.CharField(
        max_length=1, choices=[(key, key) for key in KEYPAD_KEYS], default=KEYPAD_OPERATOR_KEY,
        verbose_name="key to reach a person",
        help_text="Callers who press this key alone on their keypad are transferred to a person, or get a callback "
                  "queued when nobody takes transfers.",
    )
    sms_confirmations = models.BooleanField(
        default=False, verbose_name="SMS to customers",
        help_text="Text customers a confirmation of their booking or order, a reminder the day before a booking, "
                  "when their order is ready, and when you cancel their booking.",
    )
    record_calls = models.BooleanField(
        default=False, verbose_name="record calls",
        help_text="Keep the audio of every call (both sides). Callers hear the disclosure before the greeting.",
    )
    recording_disclosure = models.TextField(
        max_length=500, blank=True,
        help_text="What the agent says first when calls are recorded. Empty: a standard sentence in the agent's "
                  "language.",
    )
    recording_retention_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(RECORDING_RETENTION_DAYS_MAX)],
        help_text="Recordings older than this are deleted.",
    )
    recording_retention_deletes_transcript = models.BooleanField(
        default=False, verbose_name="delete transcripts too",
        help_text="When a recording is deleted for its age, delete the call's transcript with it.",
    )
    # Callbacks the agent returns itself (calls/callback_dialing.py): off until the owner turns it on.
    agent_returns_callbacks = models.BooleanField(
        default=False, verbose_name="agent returns callbacks",
        help_text="The agent calls queued callbacks back itself, during opening hours and the calling window.",
    )
    callback_max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)], verbose_name="attempts per callback",
        help_text="After this many tries without reaching the customer, the callback stays for a person.",
    )
    callback_retry_minutes = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)],
        verbose_name="minutes between attempts",
    )
    callback_max_concurrent = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(20)], verbose_name="calls at once",
        help_text="At most this many callbacks are being dialled or talked at the same time.",
    )
    # The customer's evening and morning, in the business's zone (and never outside opening hours).
    callback_window_start_hour = models.PositiveSmallIntegerField(
        default=9, validators=[MaxValueValidator(23)], verbose_name="not before (hour)",
    )
    callback_window_end_hour = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(24)], verbose_name="not after (hour)",
    )
    callback_abroad_allowed = models.BooleanField(
        default=False, verbose_name="call numbers abroad",
        help_text="Let the agent call back numbers outside the business's country.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "agent settings"
        verbose_name_plural = "agent settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(final_warning_seconds__lt=models.F("first_warning_seconds"))
                & models.Q(first_warning_seconds__lt=models.F("max_call_seconds")),
                name="warnings_fit_inside_call",
            ),
            models.CheckConstraint(condition=models.Q(max_call_seconds__gte=60), name="max_call_at_least_a_minute"),
        ]

    def __str__(self) -> str:
        return f"Agent settings for {self.business_name}"

    @property
    def takes_bookings(self) -> bool:
        return self.capabilities in (self.Capabilities.BOOKINGS, self.Capabilities.BOTH)

    @property
    def takes_orders(self) -> bool:
        return self.capabilities in (self.Capabilities.ORDERS, self.Capabilities.BOTH)

    def disclosure_text(self) -> str:
        """The sentence callers hear before the greeting when calls are recorded."""
        return self.recording_disclosure.strip() or recording_disclosure_default(self.language)

    def clean(self) -> None:
        errors = {}
        if self.first_warning_seconds is not None and self.max_call_seconds is not None:
            if self.first_warning_seconds >= self.max_call_seconds:
                errors["first_warning_seconds"] = "The first warning must come before the call's maximum length."
            if self.final_warning_seconds is not None and self.final_warning_seconds >= self.first_warning_seconds:
                errors["final_warning_seconds"] = "The final warning must come after (be shorter than) the first warning."
        if (self.callback_window_start_hour is not None and self.callback_window_end_hour is not None
                and self.callback_window_start_hour >= self.callback_window_end_hour):
            errors["callback_window_end_hour"] = "The calling window must end after it starts."
        try:
            self.transfer_to = normalize_transfer_target(self.transfer_to)
            transfer_target_loop_check(self.transfer_to)
        except ValidationError as exc:
            errors["transfer_to"] = exc.messages[0]
        if errors:
            raise ValidationError(errors)


class EscalationHours(models.Model):
    """When humans take transferred calls. Outside these, a transfer request becomes a callback."""

    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["weekday", "starts"]
        verbose_name_plural = "escalation hours"
        constraints = [
            models.CheckConstraint(condition=models.Q(starts__lt=models.F("ends")), name="escalation_starts_before_ends"),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="escalation_weekday_range"),
            models.UniqueConstraint(fields=["weekday", "starts"], name="escalation_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}–{self.ends:%H:%M}"


# The facts go into every call's instructions, so their total length is bounded: a long list costs
# tokens on every turn and buries the rules below it.
FACTS_TOTAL_MAX = 4000
FACT_TOPIC_MAX = 200
FACT_ANSWER_MAX = 1000


class BusinessFact(models.Model):
    """Something callers ask that the agent should answer the business's way: parking, payment,
    accessibility, what to bring."""

    topic = models.CharField(max_length=FACT_TOPIC_MAX, help_text="The question or topic, e.g. 'Parking'.")
    answer = models.TextField(max_length=FACT_ANSWER_MAX, help_text="What the agent tells callers.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Facts are listed in this order.")

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = "business fact"

    def __str__(self) -> str:
        return self.topic


class SupportLogin(models.Model):
    """A platform operator logged in to this business's admin as its owner, for support. The owner
    sees every one (who, when, why) in their admin; the link it was made for works once, briefly."""

    operator = models.CharField(max_length=150, help_text="The operator's username on the platform.")
    owner = models.CharField(max_length=150, help_text="The account they logged in as.")
    reason = models.CharField(max_length=300)
    created = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When the login link was used.")

    class Meta:
        ordering = ["-created"]
        verbose_name = "support login"

    def __str__(self) -> str:
        return f"{self.operator} as {self.owner}"
