"""The internal API keeps its OpenAPI schema's contract, checked by schemathesis (issue 12): data the
schema allows is never refused as malformed (a 400) nor a 5xx, data it forbids is refused, and
every response matches its documented shape. A few examples per operation, against the live test
server, with scripts/schemathesis.toml (the same configuration as the full run in
docs/HOSTILE_INPUT.md); the full run is the command there."""
import datetime as dt
import functools
import re
from pathlib import Path

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from core.call_contract import TOOL_NAMES
from voiceapi import serializers as shapes
from voiceapi.tests.voice_api import INTERNAL_TOKEN, a_call, tenant_named, tool

# Per operation and mode: enough to hit blank, NUL and float-integer data, quick enough for the suite.
EXAMPLES = 4


@schemathesis.serializer("audio/ogg")
def _ogg_bytes(ctx, value) -> dict:
    """The recording upload's body: whatever bytes the generator made (the API decodes them)."""
    return {"data": value if isinstance(value, bytes) else str(value).encode()}
CONFIG = Path(__file__).resolve().parents[2] / "scripts" / "schemathesis.toml"


@pytest.fixture
def internal_api_schema(api_server, committed_db, monkeypatch):
    salon = tenant_named("salon")
    _call, call_token = a_call(salon)
    log_call, log_token = a_call(salon)
    for name, value in {"SONIQ_INTERNAL_TOKEN": INTERNAL_TOKEN, "SONIQ_CALL_TOKEN": call_token,
                        "SONIQ_LOG_CALL_TOKEN": log_token, "SONIQ_LOG_CALL_ID": str(log_call.pk)}.items():
        monkeypatch.setenv(name, value)
    config = SchemathesisConfig.from_path(CONFIG)
    return schemathesis.openapi.from_url(f"{api_server.url}/internal/schema/", config=config)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_internal_api_keeps_its_schemas_contract(internal_api_schema, mode):
    operations = [result.ok() for result in internal_api_schema.get_all_operations()]
    # call start, the log, the recording, a callback attempt's result, and the voice tools
    assert len(operations) == 4 + len(TOOL_NAMES)

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def keeps_the_contract(case):
            case.call_and_validate()

        keeps_the_contract()


# --- the cases schemathesis found, checked one by one ------------------------------------------

@functools.cache
def published_schema() -> dict:
    return SchemaGenerator(urlconf="soniq_site.urls_public").get_schema(request=None, public=True)


def schema_allows(schema: dict, component: str, body) -> bool:
    validator = Draft202012Validator({**schema["components"]["schemas"][component],
                                      "components": schema["components"]})
    return validator.is_valid(body)


def api_allows(serializer_class, body) -> bool:
    return serializer_class(data=body).is_valid()


ITEM = {"name": "Margherita", "quantity": 2}
ORDER = {"items": [ITEM], "customer_name": "Ann", "customer_phone": "+15557654321", "confirmed": True}
BOOKING = {"service": "Haircut", "start": "2026-03-10T14:30", "customer_name": "Ann", "customer_phone": "+15557654321",
           "confirmed": True}
TEXT_CASES = ["Ann", "  Ann  ", "", " ", "\t\n", "\u3000", "\x1c", "\u00a0\u2028", "a\x00b", "\x00", "\ufeff"]


@pytest.mark.parametrize(("component", "serializer_class", "body"), [
    *[("OrderItem", shapes.OrderItemSerializer, {**ITEM, "quantity": quantity})
      for quantity in [2, 2.0, -3.0, 2.5, 1e6, 1e6 + 1, True, "2"]],
    *[("CreateBookingRequest", shapes.CreateBookingRequestSerializer, {**BOOKING, "customer_name": text})
      for text in TEXT_CASES],
    *[("CreateBookingRequest", shapes.CreateBookingRequestSerializer, {**BOOKING, "notes": text})
      for text in TEXT_CASES],
    *[("CheckAvailabilityRequest", shapes.CheckAvailabilityRequestSerializer,
       {"service": "Haircut", "date": "2026-03-10", "time": text}) for text in [*TEXT_CASES, None]],
    *[("TransferToHumanRequest", shapes.TransferToHumanRequestSerializer, {"reason": text}) for text in TEXT_CASES],
    *[("LogNoteRequest", shapes.LogNoteRequestSerializer, {"note": text}) for text in TEXT_CASES],
    *[("CallStartRequest", shapes.CallStartRequestSerializer, {"called_number": "+15550100001", "caller_number": text})
      for text in TEXT_CASES],
    ("CreateOrderRequest", shapes.CreateOrderRequestSerializer, ORDER),
    ("CreateOrderRequest", shapes.CreateOrderRequestSerializer, {**ORDER, "items": [{**ITEM, "quantity": 2.0}]}),
    ("CreateOrderRequest", shapes.CreateOrderRequestSerializer, {**ORDER, "delivery_address": "   "}),
])
def test_the_schema_and_the_serializer_agree(component, serializer_class, body):
    assert schema_allows(published_schema(), component, body) == api_allows(serializer_class, body)


def test_every_character_strip_removes_is_whitespace_in_the_schemas_pattern():
    pattern = re.compile(shapes.TextPatternValidator(allow_blank=False).regex.pattern)
    # Unicode has no whitespace beyond the Basic Multilingual Plane.
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert (pattern.search(char) is not None) == (char != "\x00" and bool(char.strip())), hex(code)


def test_a_quantity_of_two_point_zero_orders_two(committed_db, api_server, monkeypatch):
    # Friday 13 March 2026, 19:00 in Berlin: the pizzeria is open.
    monkeypatch.setattr("core.clock.now", lambda: dt.datetime(2026, 3, 13, 18, 0, tzinfo=dt.UTC))
    _call, token = a_call(tenant_named("pizzeria"))
    response = tool(api_server, token, "create_order", {**ORDER, "items": [{**ITEM, "quantity": 2.0}]})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["lines"][0]["quantity"] == 2


@pytest.mark.parametrize(("body", "allowed"), [
    ({"duration_seconds": 1.5}, True), ({"duration_seconds": -1}, False), ({"usage": {"llm_prompt_tokens": -5}}, False),
    ({"latency": [{"end_of_utterance_ms": 600}]}, True), ({"latency": [{"end_of_utterance_ms": False}]}, False),
    ({"transcript": [{"role": "user", "text": "hi", "interrupted": 1}]}, False),
])
def test_the_logs_schema_and_its_validation_agree_on_numbers_and_flags(body, allowed):
    from calls.ingestion import CallLogIn

    assert schema_allows(published_schema(), "CallLogIn", body) == allowed
    assert (CallLogIn.model_validate(body) is not None if allowed else _refused(CallLogIn, body))


def _refused(model, body) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate(body)
    except ValidationError:
        return True
    return False
