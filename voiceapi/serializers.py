"""Request and response shapes of the internal voice API.

Request serializers only check *shape*: required fields, no unknown fields, types, lengths.
Everything that needs the tenant's data (is the service offered, is the slot free,
is the outcome allowed, is that a real date) is the services' job and comes back as a `DomainError`.

They are strict on purpose. The fields come from an LLM's tool call, and DRF's defaults would turn
`true` into the service name "True" or silently drop a misspelt field; a 400 naming the field lets
the model correct itself on the next turn.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calls.models import Call
from core.call_contract import CallConfig, ContractModel

# Anything longer than this in a tool call is not something a caller said.
NAME_MAX = 200
NOTE_MAX = 2000
PHONE_MAX = 40
DATE_TEXT_MAX = 64
# The biggest whole number accepted anywhere, so "10**30 pizzas" is a clean 422 from the service,
# not an overflow somewhere below it.
INTEGER_LIMIT = 1_000_000


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a misspelt field is an error, not a silent default."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["This field is not allowed."] for name in unknown})
        return super().to_internal_value(data)


def _strict_serializers() -> list[type[StrictSerializer]]:
    found, pending = [], [StrictSerializer]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def strict_request_schemas(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: say in the schema what StrictSerializer enforces —
    `additionalProperties: false` — and the item bounds of its lists (minItems/maxItems), which
    drf-spectacular leaves out for nested list serializers. A client generated from the schema
    then refuses what the API would refuse."""
    components = result.get("components", {}).get("schemas", {})
    for serializer_class in _strict_serializers():
        component = components.get(serializer_class.__name__.removesuffix("Serializer"))
        if component is None:
            continue
        component["additionalProperties"] = False
        for name, field in serializer_class().fields.items():
            prop = component.get("properties", {}).get(name)
            if prop is not None:
                _blank_text_unwrapped(prop)
            if prop is None or not isinstance(field, serializers.ListSerializer):
                continue
            if not field.allow_empty:
                prop["minItems"] = max(1, field.min_length or 0)
            if field.max_length is not None:
                prop["maxItems"] = field.max_length
    return result


# What str.strip() (and so DRF's trim_whitespace) takes for whitespace: exactly the characters
# for which str.isspace() is true, spelt out so that every regex engine reads the schema's pattern
# alike (`\s` differs between Python, ECMA 262 and Rust).
WHITESPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class TextPatternValidator(RegexValidator):
    """Says in the OpenAPI schema (drf-spectacular turns a RegexValidator into `pattern`) what a
    TextField refuses besides its length: NUL, and, when it must not be blank, text that is only
    whitespace. The check itself is a plain scan: the pattern would backtrack quadratically over a
    long text with a NUL at its end."""

    # As drf-spectacular writes it into the schema (ECMA 262 escapes).
    BLANK_ALLOWED = r"^[^\u0000]*$"

    def __init__(self, *, allow_blank: bool):
        self.allow_blank = allow_blank
        pattern = r"^[^\x00]*$" if allow_blank else rf"^[^\x00]*[^\x00{WHITESPACE_CLASS}][^\x00]*$"
        super().__init__(pattern, message="must not contain NUL characters.", code="null_characters_not_allowed")

    def __call__(self, value: Any) -> None:
        text = str(value)
        # Blank text never gets here (the field's own `blank` check answers it first); this is the
        # pattern's meaning, so the schema and the check cannot drift apart.
        if "\x00" in text or not (self.allow_blank or text.strip()):
            raise serializers.ValidationError(self.message, code=self.code)


BLANK_TEXT = {"type": "string", "maxLength": 0}


def _blank_text_unwrapped(prop: dict) -> None:
    """drf-spectacular writes a blank-allowed text with a pattern as `oneOf: [<pattern>, <empty>]`;
    the pattern of a TextField that may be blank already matches "", so "" matched both and was
    schema-invalid (oneOf means exactly one). Keep the one alternative."""
    alternatives = prop.get("oneOf")
    if isinstance(alternatives, list) and len(alternatives) == 2 and alternatives[1] == BLANK_TEXT \
            and alternatives[0].get("pattern") == TextPatternValidator.BLANK_ALLOWED:
        del prop["oneOf"]
        prop.update(alternatives[0])


class TextField(serializers.CharField):
    """A JSON string, nothing else: numbers and booleans are refused rather than stringified, and
    text PostgreSQL cannot store (NUL, lone surrogates) is refused here rather than failing there."""

    default_error_messages = {
        "invalid": "must be text.",
        "blank": "must not be empty.",
        "max_length": "must be at most {max_length} characters.",
        "min_length": "must be at least {min_length} characters.",
        "required": "is required.",
        "null": "must not be null.",
        "unencodable": "contains characters that are not valid text.",
    }

    def __init__(self, **kwargs: Any):
        # A required text is at least one character: said in the OpenAPI schema (minLength), while
        # the empty string still gets the "must not be empty" sentence from the blank check.
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)
        self.validators = [validator for validator in self.validators
                           if not isinstance(validator, ProhibitNullCharactersValidator)]
        self.validators.append(TextPatternValidator(allow_blank=self.allow_blank))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("unencodable")
        return super().to_internal_value(data)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer: `"3"`, `3.5` and `true` are refused. `3.0` is taken as 3: JSON Schema counts
    it as an integer (a number with a zero fractional part), and so do clients generated from the
    schema."""

    default_error_messages = {
        "invalid": "must be a whole number.",
        "required": "is required.",
        "null": "must not be null.",
        "max_value": "must be at most {max_value}.",
        "min_value": "must be at least {min_value}.",
    }

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class FlagField(serializers.BooleanField):
    default_error_messages = {"invalid": "must be true or false.", "null": "must not be null."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# --- call start --------------------------------------------------------------------------------

class CallStartRequestSerializer(StrictSerializer):
    called_number = TextField(max_length=64, required=False, allow_blank=True, default="",
                              help_text="The number the caller dialled, any common format (blank for a test call).")
    caller_number = TextField(max_length=64, required=False, allow_blank=True, default="",
                              help_text="The caller's number; blank or e.g. 'anonymous' when withheld.")
    room = TextField(max_length=200, required=False, allow_blank=True, default="", help_text="LiveKit room name.")
    sip_call_id = TextField(max_length=200, required=False, allow_blank=True, default="", help_text="SIP Call-ID.")
    test_grant = TextField(max_length=2000, required=False, allow_blank=True, default="",
                           help_text="A test call: the platform-signed grant from the agent dispatch's metadata "
                                     "(voiceapi/trial_calls.py). It names the business; called_number is ignored.")
    callback_grant = TextField(max_length=2000, required=False, allow_blank=True, default="",
                               help_text="An outbound call returning a callback: the platform-signed grant from the "
                                         "agent dispatch's metadata (calls/callback_dialing.py). It names the "
                                         "business and the attempt; the numbers are ignored.")


class CallbackAttemptRequestSerializer(StrictSerializer):
    result = serializers.ChoiceField(choices=["answered", "voicemail", "no_answer", "busy", "failed"],
                                     help_text="How the outbound call of a callback went.")
    detail = TextField(max_length=300, required=False, allow_blank=True, default="",
                       help_text="What the SIP side said (a status code, a reason), for the callback's page.")


# 201 of call start. The config is the contract's own model (core/call_contract.py): the schema, the
# body the view dumps and the worker's reading of it come from one place.
class CallStartResponse(ContractModel):
    call_id: uuid.UUID
    call_token: str
    config: CallConfig


# --- voice tools -------------------------------------------------------------------------------

# Dates and times stay text here: the booking selectors parse them (and say what is wrong with
# them: an impossible date, a wall time skipped by the clocks going forward) in one place.

class CheckAvailabilityRequestSerializer(StrictSerializer):
    service = TextField(max_length=NAME_MAX, help_text="The service as the caller said it.")
    date = TextField(max_length=DATE_TEXT_MAX, help_text="YYYY-MM-DD in the tenant's local time (or today, tomorrow).")
    time = TextField(max_length=DATE_TEXT_MAX, required=False, allow_null=True, allow_blank=True, default=None,
                     help_text="HH:MM local time (an offset is honoured); omit for the whole day.")


class CreateBookingRequestSerializer(StrictSerializer):
    service = TextField(max_length=NAME_MAX)
    start = TextField(max_length=DATE_TEXT_MAX, help_text="YYYY-MM-DDTHH:MM local time, or with an offset.")
    customer_name = TextField(max_length=NAME_MAX)
    customer_phone = TextField(max_length=PHONE_MAX)
    notes = TextField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")
    confirmed = FlagField(required=False, default=False,
                          help_text="true only after the caller said yes to the read-back; without it nothing is "
                                    "written and the answer is 422 not_confirmed, whose message is the read-back.")


class OrderItemSerializer(StrictSerializer):
    name = TextField(max_length=NAME_MAX, help_text="The menu item as the caller said it.")
    quantity = WholeNumberField(min_value=-INTEGER_LIMIT, max_value=INTEGER_LIMIT, help_text="1 to 99.")
    notes = TextField(max_length=500, required=False, allow_blank=True, default="")


class CreateOrderRequestSerializer(StrictSerializer):
    items = OrderItemSerializer(many=True, allow_empty=False, max_length=50)
    customer_name = TextField(max_length=NAME_MAX)
    customer_phone = TextField(max_length=PHONE_MAX)
    fulfillment = serializers.ChoiceField(choices=["pickup", "delivery"], required=False, default="pickup",
                                          error_messages={"invalid_choice": 'must be "pickup" or "delivery".'})
    delivery_address = TextField(max_length=500, required=False, allow_blank=True, default="")
    notes = TextField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")
    confirmed = FlagField(required=False, default=False,
                          help_text="true only after the caller said yes to the read-back; without it nothing is "
                                    "written and the answer is 422 not_confirmed, whose message is the read-back.")


class TransferToHumanRequestSerializer(StrictSerializer):
    reason = TextField(max_length=NOTE_MAX, allow_blank=True)
    transfer_failed = FlagField(required=False, default=False,
                                help_text="true after a SIP transfer failed: queue a callback instead.")
    callback_number = TextField(max_length=PHONE_MAX, required=False, allow_blank=True, default="",
                                help_text="A number to call back on, when not the caller's own.")
    caller_name = TextField(max_length=NAME_MAX, required=False, allow_blank=True, default="")


@extend_schema_field({"type": "string", "enum": list(Call.AGENT_OUTCOMES)})
class OutcomeField(TextField):
    """Text here; an outcome outside the list is the service's 422 `invalid_outcome`, whose sentence
    lists the valid ones for the model."""


class EndCallRequestSerializer(StrictSerializer):
    reason = TextField(max_length=500, allow_blank=True)
    outcome = OutcomeField(max_length=50, help_text=f"One of: {', '.join(Call.AGENT_OUTCOMES)}.")


class LogNoteRequestSerializer(StrictSerializer):
    note = TextField(max_length=NOTE_MAX)


class DoNotCallRequestSerializer(StrictSerializer):
    """No fields: the number is the call's own (the customer the agent called back)."""


# A caller's own bookings and orders. Who the caller is comes from the call (its caller number);
# a caller on another phone names the booking's number and name, which count only together.

class CallerVerificationSerializer(StrictSerializer):
    customer_phone = TextField(max_length=PHONE_MAX, required=False, allow_blank=True, default="",
                               help_text="The number the booking was made under, when not the one calling.")
    customer_name = TextField(max_length=NAME_MAX, required=False, allow_blank=True, default="",
                              help_text="The name the booking was made under; needed together with customer_phone.")


class FindBookingsRequestSerializer(CallerVerificationSerializer):
    pass


class ChangeVerificationSerializer(CallerVerificationSerializer):
    customer_name = TextField(max_length=NAME_MAX, required=False, allow_blank=True, default="",
                              help_text="The name the booking was made under: always needed to move or cancel it.")
    verification_code = TextField(max_length=12, required=False, allow_blank=True, default="",
                                  help_text="The code Soniq texted to the booking's phone, when it asked for one.")


class RescheduleBookingRequestSerializer(ChangeVerificationSerializer):
    booking_id = WholeNumberField(min_value=1, max_value=INTEGER_LIMIT * 1000, help_text="From find_bookings.")
    start = TextField(max_length=DATE_TEXT_MAX, help_text="The new start: YYYY-MM-DDTHH:MM local time, or with an offset.")


class CancelBookingRequestSerializer(ChangeVerificationSerializer):
    booking_id = WholeNumberField(min_value=1, max_value=INTEGER_LIMIT * 1000, help_text="From find_bookings.")
    reason = TextField(max_length=500, required=False, allow_blank=True, default="")


class OrderStatusRequestSerializer(StrictSerializer):
    pass


class ToolSuccessSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Always true.")
    result = serializers.DictField(help_text="The tool's structured result (see docs/internal-api.md).")
    message = serializers.CharField(help_text="One sentence the agent can say.")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case, stable.")
    message = serializers.CharField(help_text="A sentence the agent can say.")
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Always false.")
    error = ErrorDetailSerializer()


class CallLogResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    call_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["accepted", "already_stored"],
                                     help_text="202 accepted (queued), 200 already_stored (this exact log is stored).")
