"""The call-start contract: what the internal API sends the voice worker at `POST /internal/calls/start`
and the worker reads, named once for both sides (the API builds it in voiceapi/call_config.py, the
worker reads it in voiceworker/providers.py and agent.py). Plain data: the worker imports it in its
job processes, where no Django app is loaded.

The config's shape (documented in docs/internal-api.md, validated by `CallConfigSerializer`):
`config_version`, `tenant`, `business_name`, `timezone`, `local_time`, `language`, `greeting`,
`instructions`, `caller_number`, `voice` {provider, model, voice_id, speed}, `stt` {provider, model,
language}, `llm` {provider, model}, `max_call_seconds`, `warnings` {first_seconds, final_seconds},
`transfer` {available_now, target}, `callback_promise`, `tools`, `phrases` {key: the worker's own
sentence in the tenant's language, core/call_phrases.py}, `keypad` {operator_key}. Bump CONFIG_VERSION
on an incompatible change.
"""
from typing import Literal, TypedDict, get_args

CONFIG_VERSION = 1

VOICE_PROVIDER, VOICE_MODEL = "cartesia", "sonic-3"
STT_PROVIDER, STT_MODEL, STT_LANGUAGE = "deepgram", "nova-3", "multi"
LLM_PROVIDER, LLM_MODEL = "openai", "gpt-4.1-mini"
# The key a caller presses to reach a person (voiceworker/call_actions.Keypad).
KEYPAD_OPERATOR_KEY = "0"

# What a call achieved, as the agent's end_call and the end-of-call log say it.
Outcome = Literal["booked", "ordered", "answered", "transferred", "callback", "other"]
AGENT_OUTCOMES: tuple[str, ...] = get_args(Outcome)


class ModelChoice(TypedDict):
    provider: str
    model: str


class CallConfig(TypedDict, total=False):
    config_version: int
    tenant: str
    business_name: str
    timezone: str
    local_time: str
    language: str
    greeting: str
    instructions: str
    caller_number: str
    voice: dict
    stt: dict
    llm: ModelChoice
    max_call_seconds: int
    warnings: dict
    transfer: dict
    callback_promise: str
    tools: list[str]
    phrases: dict[str, str]
    keypad: dict
