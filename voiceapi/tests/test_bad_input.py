"""Bad input answered 4xx with `ok: false`, a code and a speakable message — never a 5xx.

Missing and extra fields, wrong types, 100 KB strings, impossible dates and times, negative and huge
quantities, unicode, and bodies that are not JSON, against every tool and call start."""
import json

import pytest
import requests

from testing.live_server import truncate_activity
from voiceapi.tests.voice_api import INTERNAL_TOKEN, a_call, tenant_named

HUGE = "x" * 100_000
VALID = {
    "check_availability": {"service": "Haircut", "date": "2026-03-10", "time": "14:30"},
    "create_booking": {"service": "Haircut", "start": "2026-03-10T14:30", "customer_name": "Ann",
                       "customer_phone": "+15557654321", "notes": "", "confirmed": True},
    "create_order": {"items": [{"name": "Margherita", "quantity": 1}], "customer_name": "Ann",
                     "customer_phone": "+15557654321", "fulfillment": "pickup", "confirmed": True},
    "transfer_to_human": {"reason": "Wants a person"},
    "end_call": {"reason": "Done", "outcome": "answered"},
    "log_note": {"note": "Prefers mornings"},
}
REQUIRED = {
    "check_availability": ["service", "date"],
    "create_booking": ["service", "start", "customer_name", "customer_phone"],
    "create_order": ["items", "customer_name", "customer_phone"],
    "transfer_to_human": ["reason"],
    "end_call": ["reason", "outcome"],
    "log_note": ["note"],
}
WRONG_TYPES = [12, 1.5, True, None, ["a"], {"a": 1}]


def with_field(action: str, field: str, value) -> dict:
    return {**VALID[action], field: value}


def without_field(action: str, field: str) -> dict:
    return {key: value for key, value in VALID[action].items() if key != field}


def string_fields(action: str) -> list[str]:
    return [field for field, value in VALID[action].items() if isinstance(value, str)]


CASES = []
for action in VALID:
    CASES += [(action, f"missing {field}", without_field(action, field), 400) for field in REQUIRED[action]]
    CASES.append((action, "extra field", {**VALID[action], "colour": "red"}, 400))
    CASES += [(action, f"{field} = {value!r}", with_field(action, field, value), 400)
              for field in string_fields(action) for value in WRONG_TYPES
              if not (field == "time" and value is None)]  # a null time means "the whole day"
    CASES += [(action, f"100 KB {field}", with_field(action, field, HUGE), 400) for field in string_fields(action)]
    CASES += [(action, f"NUL in {field}", with_field(action, field, "a\x00b"), 400) for field in string_fields(action)]
    CASES += [(action, body_name, body, 400) for body_name, body in
              [("empty object", {}), ("a list", [VALID[action]]), ("a string", "hello"), ("a number", 42),
               ("null", None)]]
CASES += [("create_order", f"items {name}", with_field("create_order", "items", value), 400)
          for name, value in [("empty", []), ("not a list", {"name": "x"}), ("a list of strings", ["Margherita"]),
                              ("item missing quantity", [{"name": "Margherita"}]),
                              ("item with extra field", [{"name": "Margherita", "quantity": 1, "size": "L"}]),
                              ("quantity as text", [{"name": "Margherita", "quantity": "2"}]),
                              ("quantity as float", [{"name": "Margherita", "quantity": 1.5}]),
                              ("quantity as bool", [{"name": "Margherita", "quantity": True}]),
                              ("quantity 10**30", [{"name": "Margherita", "quantity": 10**30}]),
                              ("quantity -10**12", [{"name": "Margherita", "quantity": -10**12}]),
                              ("100 KB item name", [{"name": HUGE, "quantity": 1}]),
                              ("51 lines", [{"name": "Margherita", "quantity": 1}] * 51)]]
CASES += [("check_availability", "empty date", with_field("check_availability", "date", ""), 400),
          ("create_booking", "empty start", with_field("create_booking", "start", ""), 400)]
CASES += [("create_order", "fulfillment 'teleport'", with_field("create_order", "fulfillment", "teleport"), 400)]
CASES += [("transfer_to_human", "transfer_failed 'yes'", with_field("transfer_to_human", "transfer_failed", "yes"), 400)]


@pytest.fixture(scope="module")
def call_tokens(django_db_setup, django_db_blocker):
    """One committed call per tenant for the whole module: bad input writes nothing, so the ~250
    cases share them and the activity tables are emptied once, at the end."""
    with django_db_blocker.unblock():
        try:
            yield {"salon": a_call(tenant_named("salon"))[1], "pizzeria": a_call(tenant_named("pizzeria"))[1]}
        finally:
            truncate_activity()


@pytest.fixture
def salon_token(call_tokens):
    return call_tokens["salon"]


@pytest.fixture
def pizzeria_token(call_tokens):
    return call_tokens["pizzeria"]


def assert_clean_refusal(response: requests.Response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] and body["error"]["message"]
    assert len(body["error"]["message"]) < 300, "a message the agent can say, not a dump"
    return body["error"]


def post(api_server, token: str, action: str, data: bytes | str, content_type: str = "application/json"):
    return requests.post(f"{api_server.url}/internal/voice-tools/{action}", data=data,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}, timeout=10)


@pytest.mark.parametrize(("action", "case", "body", "status"), CASES, ids=[f"{a}: {c}" for a, c, _b, _s in CASES])
def test_it_refuses_malformed_tool_calls(api_server, salon_token, action, case, body, status):
    error = assert_clean_refusal(post(api_server, salon_token, action, json.dumps(body)), status)
    assert error["code"] == "invalid_request"


IMPOSSIBLE = (
    [("check_availability", "date", value, "invalid_date")
     for value in ["2026-02-30", "2026-13-01", "2026-3-10", "next week", "10/03/2026", "99999-01-01", "0000-01-01"]]
    + [("check_availability", "time", value, "invalid_time") for value in ["25:00", "12:60", "noon", "12:30:99", "13pm"]]
    + [("create_booking", "start", value, "invalid_time")
       for value in ["2026-03-10T24:00", "2026-03-10", "next tuesday at 3", "2026-03-10T10:00+25:00"]]
    + [("create_booking", "start", "2026-02-30T10:00", "invalid_date")]
)


@pytest.mark.parametrize(("action", "field", "value", "code"), IMPOSSIBLE,
                         ids=[f"{a} {f}={v!r}" for a, f, v, _c in IMPOSSIBLE])
def test_it_refuses_impossible_dates_and_times(api_server, salon_token, action, field, value, code):
    error = assert_clean_refusal(post(api_server, salon_token, action, json.dumps(with_field(action, field, value))), 422)
    assert error["code"] == code


@pytest.mark.parametrize("service", ["Çolour 🎨", "שיער", "\u200b", "Haircut'; DROP TABLE bookings_booking;--", " "])
def test_it_handles_unicode_and_hostile_service_names_without_an_error(api_server, salon_token, service):
    # Accents and emoji may still match a service (the matcher folds them); what matters is that
    # nothing breaks and nothing is taken as SQL.
    response = post(api_server, salon_token, "check_availability", json.dumps(with_field("check_availability", "service", service)))
    assert response.status_code < 500, response.text
    assert response.json()["ok"] is (response.status_code == 200)


def test_an_unknown_service_lists_the_services_offered(api_server, salon_token):
    error = assert_clean_refusal(post(api_server, salon_token, "check_availability",
                                      json.dumps(with_field("check_availability", "service", "שיער"))), 422)
    assert error["code"] == "unknown_service"
    assert "Haircut" in error["message"] and "Colour" in error["message"]


def test_it_answers_unknown_menu_items_in_any_script(api_server, pizzeria_token):
    body = with_field("create_order", "items", [{"name": "ピザ 🍕", "quantity": 1}])
    error = assert_clean_refusal(post(api_server, pizzeria_token, "create_order", json.dumps(body)))
    assert error["code"] in ("unknown_item", "closed")


@pytest.mark.parametrize("field", ["service", "date", "customer_name"])
def test_the_message_names_the_field(api_server, salon_token, field):
    action = "check_availability" if field in ("service", "date") else "create_booking"
    error = assert_clean_refusal(post(api_server, salon_token, action, json.dumps(without_field(action, field))), 400)
    assert error["message"] == f"The field {field} is required."


def test_the_message_names_a_nested_field_and_an_unknown_one(api_server, pizzeria_token):
    body = with_field("create_order", "items", [{"name": "Margherita", "quantity": 1}, {"name": "Cola", "quantity": "two"}])
    error = assert_clean_refusal(post(api_server, pizzeria_token, "create_order", json.dumps(body)), 400)
    assert error["message"] == "The field items[1].quantity must be a whole number."

    error = assert_clean_refusal(post(api_server, pizzeria_token, "log_note", json.dumps({"note": "x", "colour": 1})), 400)
    assert error["message"] == "The field colour is not allowed."

    error = assert_clean_refusal(post(api_server, pizzeria_token, "log_note", json.dumps({"note": HUGE})), 400)
    assert error["message"] == "The field note must be at most 2000 characters."


@pytest.mark.parametrize(("name", "data", "content_type", "status", "code"), [
    ("not JSON", "service=Haircut", "application/json", 400, "invalid_json"),
    ("truncated JSON", '{"service": "Hair', "application/json", 400, "invalid_json"),
    ("NaN", '{"service": NaN, "date": "2026-03-10"}', "application/json", 400, "invalid_json"),
    ("Infinity", '{"note": Infinity}', "application/json", 400, "invalid_json"),
    ("invalid UTF-8", b'{"note": "\xff\xfe"}', "application/json", 400, "invalid_json"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "application/json", 413, "payload_too_large"),  # 100,000 lists
    ("deep but few", "[" * 2_000 + "]" * 2_000, "application/json", 400, "invalid_json"),
    ("a 4,301-digit number", '{"note": ' + "9" * 4301 + "}", "application/json", 400, "invalid_json"),
    ("lone surrogate", '{"note": "\\ud800"}', "application/json", 400, "invalid_request"),
    ("text/plain", '{"note": "hi"}', "text/plain", 415, "unsupported_media_type"),
    ("form", "note=hi", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("empty body", "", "application/json", 400, "invalid_request"),
    ("1 MB body", json.dumps({"note": "x" * 1_000_000}), "application/json", 413, "payload_too_large"),
])
def test_it_refuses_bodies_that_are_not_json(api_server, salon_token, name, data, content_type, status, code):
    error = assert_clean_refusal(post(api_server, salon_token, "log_note", data, content_type), status)
    assert error["code"] == code


def test_it_refuses_an_overlong_idempotency_key(api_server, salon_token):
    response = requests.post(f"{api_server.url}/internal/voice-tools/create_booking", json=VALID["create_booking"],
                             headers={"Authorization": f"Bearer {salon_token}", "Idempotency-Key": "k" * 201}, timeout=10)
    assert assert_clean_refusal(response, 400)["code"] == "invalid_request"


@pytest.mark.parametrize(("case", "body"), [
    ("missing called_number", {"caller_number": "+15557654321"}),
    ("called_number a number", {"called_number": 15550100001}),
    ("100 KB called_number", {"called_number": HUGE}),
    ("extra field", {"called_number": "+15550100001", "tenant": "pizzeria"}),
    ("a list", [{"called_number": "+15550100001"}]),
])
def test_call_start_refuses_malformed_bodies(committed_db, api_server, case, body):
    response = requests.post(f"{api_server.url}/internal/calls/start", json=body,
                             headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"}, timeout=10)
    assert assert_clean_refusal(response, 400)["code"] == "invalid_request"
