"""The call-start contract, written once for both sides: what the internal API sends the voice worker at
`POST /internal/calls/start` (built in voiceapi/call_config.py, dumped by the view, described in the
OpenAPI schema from this model) and what the worker validates it into (voiceworker/api_client.py).
Also the outcomes a call can have and the one table of voice tools. Pydantic only, no Django: the
worker imports this module in its job processes, where no Django app is loaded.

Each default is stated here and nowhere else: a field the API leaves out is the default below, on both
sides. Bump CONFIG_VERSION on an incompatible change; a new field with a default is not one.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONFIG_VERSION = 1

# The keys of a phone's keypad, and the one a caller presses to reach a person unless the tenant
# chose another (AgentSettings.keypad_operator_key; voiceworker/call_actions.Keypad).
KEYPAD_KEYS = "0123456789*#"
KEYPAD_OPERATOR_KEY = "0"


class Outcome(enum.StrEnum):
    """What a call achieved, as the agent's end_call and the end-of-call log say it."""

    BOOKED = "booked"
    ORDERED = "ordered"
    ANSWERED = "answered"
    TRANSFERRED = "transferred"
    CALLBACK = "callback"
    OTHER = "other"


AGENT_OUTCOMES: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)


# --- the voice tools -------------------------------------------------------------------------------

class Capability(enum.StrEnum):
    """What a business does that some tools need: a salon takes bookings, a pizzeria takes orders."""

    BOOKINGS = "bookings"
    ORDERS = "orders"


@dataclass(frozen=True)
class Tool:
    """One voice tool: the URL `/internal/voice-tools/<name>` and the worker's function tool of that name.

    `repeat` is what the worker may do after a connection dropped once the request went out:
    - "keyed": a write that carries an Idempotency-Key the API replays, so sending it again is safe;
    - "repeatable": a read, or a write that sets a value (twice is once);
    - "once": never sent twice (a second transfer request or note would be a second one).
    `capability`: the business capability that offers it; None for every business."""

    name: str
    repeat: Literal["keyed", "repeatable", "once"]
    capability: Capability | None
    # Offered only on a callback the agent placed (the customer can ask not to be called again).
    callback_only: bool = False

    @property
    def keyed(self) -> bool:
        return self.repeat == "keyed"

    @property
    def repeatable(self) -> bool:
        return self.repeat in ("keyed", "repeatable")


# In the order the model is offered them (and the config lists them).
TOOLS: tuple[Tool, ...] = (
    Tool("check_availability", "repeatable", Capability.BOOKINGS),
    Tool("create_booking", "keyed", Capability.BOOKINGS),
    Tool("find_bookings", "repeatable", Capability.BOOKINGS),
    Tool("reschedule_booking", "keyed", Capability.BOOKINGS),
    Tool("cancel_booking", "keyed", Capability.BOOKINGS),
    Tool("create_order", "keyed", Capability.ORDERS),
    Tool("order_status", "repeatable", Capability.ORDERS),
    Tool("transfer_to_human", "once", None),
    Tool("end_call", "repeatable", None),
    Tool("log_note", "once", None),
    Tool("do_not_call", "repeatable", None, callback_only=True),
)
TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS_BY_NAME)


def tools_for(capabilities: set[Capability] | frozenset[Capability], *, callback: bool = False) -> list[str]:
    """The names of the tools a business with `capabilities` offers, in the table's order (`callback`:
    on a callback the agent placed)."""
    return [tool.name for tool in TOOLS if (tool.capability is None or tool.capability in capabilities)
            and (callback or not tool.callback_only)]


# --- the config --------------------------------------------------------------------------------------

def _without_titles(schema: dict[str, Any]) -> None:
    # pydantic titles every property after its name; the OpenAPI schema has no use for that noise.
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class ContractModel(BaseModel):
    # Unknown fields are ignored, not refused: an API deployed ahead of its workers may send a field
    # they do not know yet (an incompatible change bumps CONFIG_VERSION instead). Every field is
    # in what the API sends, so the OpenAPI schema marks them all required.
    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_serialization_defaults_required=True,
                              json_schema_extra=_without_titles)


class VoiceConfig(ContractModel):
    provider: str = Field("cartesia", description='"cartesia"')
    model: str = Field("sonic-3", description='"sonic-3"')
    voice_id: str = Field("", description="The tenant's voice; empty for the platform's DEFAULT_VOICE_ID.")
    speed: float = Field(1.0, json_schema_extra={"format": "double"})


# Deepgram's keyterm prompting (Nova-3): it advises up to about 100 terms and 500 tokens in all; fewer,
# shorter terms keep the boost on the words that matter (the business's own names).
STT_KEYTERMS_MAX = 50
STT_KEYTERM_MAX_CHARS = 60


class SttConfig(ContractModel):
    provider: str = Field("deepgram", description='"deepgram"')
    model: str = Field("nova-3", description='"nova-3"')
    language: str = Field("multi", description='"multi"')
    keyterms: tuple[str, ...] = Field((), max_length=STT_KEYTERMS_MAX, description=(
        "Words to transcribe right (the business's name, its services and menu items): Nova-3's `keyterm`, "
        f"at most {STT_KEYTERMS_MAX} of at most {STT_KEYTERM_MAX_CHARS} characters each."))


class LlmConfig(ContractModel):
    provider: str = Field("openai", description='"openai"')
    model: str = Field("gpt-4.1-mini", description='"gpt-4.1-mini"')


class WarningsConfig(ContractModel):
    first_seconds: int = Field(120, description="Seconds before max_call_seconds for the first spoken warning.")
    final_seconds: int = Field(30, description="Seconds before max_call_seconds for the final warning.")


# How a transfer attempt ended (the log's `transfer_attempts[].outcome`, the call page's wording).
TRANSFER_ATTEMPT_OUTCOMES: tuple[str, ...] = ("answered", "busy", "declined", "no_answer", "failed")
TRANSFER_RINGING_SECONDS = 18


class TransferConfig(ContractModel):
    available_now: bool = Field(False, description="Inside escalation hours with a transfer target, at call start.")
    target: str = Field("", description="tel:+E164 or sip: URI; empty when none is set.")
    ringing_timeout_seconds: int = Field(TRANSFER_RINGING_SECONDS, description=(
        "How long a transfer rings before it counts as not answered."))
    fallback: Literal["callback", "message"] = Field("callback", description=(
        "What follows a transfer nobody took: a callback queued, or a message taken."))
    mode: Literal["cold", "warm"] = Field("cold", description=(
        "cold: SIP REFER of the caller; warm: the agent dials the target into the call's room, briefs them, "
        "then leaves caller and target together (voiceworker/warm_transfer.py)."))


class RecordingConfig(ContractModel):
    enabled: bool = Field(False, description="Record the call: stereo Ogg/Opus, caller left and agent right, "
                                             "uploaded to /internal/calls/<id>/recording after it.")
    disclosure: str = Field("", description="Said before the greeting (the greeting already starts with it); empty "
                                            "when not recording.")


class KeypadConfig(ContractModel):
    operator_key: str = Field(KEYPAD_OPERATOR_KEY, pattern=r"^[0-9*#]$",
                              description="The key a caller presses to reach a person: 0-9, * or #.")


class CallbackConfig(ContractModel):
    """An outbound call returning a queued callback (calls/callback_dialing.py); empty for an inbound call."""

    callback_id: int = Field(0, description="The callback request called back; 0 for an inbound call.")
    dial_number: str = Field("", description="E.164 number of the customer to dial.")
    from_number: str = Field("", description="E.164 number of the business, shown to the customer.")
    voicemail_message: str = Field("", description="Said to a voicemail or screening service, then the hang-up.")


class CallConfig(ContractModel):
    """Everything the worker needs to run one call (docs/internal-api.md, field by field)."""

    config_version: int = Field(CONFIG_VERSION, description="Bumped on incompatible changes of this shape.")
    tenant: str = Field("", description="The tenant's slug (schema name).")
    business_name: str = ""
    timezone: str = Field("UTC", description="IANA zone, e.g. America/New_York.")
    local_time: str = Field("", description="Call start in the tenant's zone, ISO 8601 with offset.")
    language: str = Field("en", description="BCP 47 code the agent speaks first.")
    greeting: str = ""
    instructions: str = Field("", description="The system prompt: tenant prompt plus generated context.")
    caller_number: str = ""
    voice: VoiceConfig = VoiceConfig()
    stt: SttConfig = SttConfig()
    llm: LlmConfig = LlmConfig()
    max_call_seconds: int = 600
    warnings: WarningsConfig = WarningsConfig()
    transfer: TransferConfig = TransferConfig()
    callback_promise: str = ""
    tools: tuple[str, ...] = Field(TOOL_NAMES, description="The voice tools to offer the model.")
    test: bool = Field(False, description="A test call (the owner trying their agent): its writes are removed at the end.")
    recording: RecordingConfig = RecordingConfig()
    phrases: dict[str, str] = Field(default_factory=dict, description=(
        "The worker's own sentences (fillers, apologies, goodbyes, backchannels) in the tenant's language, by "
        "key (core/call_phrases.py); a key left out is said in English."))
    keypad: KeypadConfig = KeypadConfig()
    callback: CallbackConfig = CallbackConfig()
