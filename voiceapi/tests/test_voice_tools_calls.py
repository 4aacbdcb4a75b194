"""The call's own tools over HTTP: transfer_to_human, end_call, log_note; and unknown tools."""
import datetime as dt

import pytest
import requests
from django_tenants.utils import tenant_context

from calls.models import Call, CallbackRequest, CallNote
from core.call_contract import TOOL_NAMES
from voiceapi.tests.voice_api import CALLER, a_call, assert_error, tenant_named, tool

TUESDAY_11_NEW_YORK = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
SATURDAY_10_NEW_YORK = dt.datetime(2026, 3, 7, 15, 0, tzinfo=dt.UTC)
TUESDAY_17_NEW_YORK = dt.datetime(2026, 3, 10, 21, 0, tzinfo=dt.UTC)  # escalation hours end at 17:00
# Berlin moves to summer time on 29 March 2026: 19:30 UTC is 21:30 CEST (kitchen until 22:00),
# 20:30 UTC is 22:30 CEST — but would be 21:30 if the zone's summer time were ignored.
FRIDAY_2130_BERLIN_SUMMER = dt.datetime(2026, 4, 3, 19, 30, tzinfo=dt.UTC)
FRIDAY_2230_BERLIN_SUMMER = dt.datetime(2026, 4, 3, 20, 30, tzinfo=dt.UTC)


@pytest.fixture
def clock_at(monkeypatch):
    def pin(moment: dt.datetime) -> None:
        monkeypatch.setattr("core.clock.now", lambda: moment)
    return pin


@pytest.fixture
def transfer_settings():
    """Changes the transfer settings of a business for one test (the database is committed)."""
    from tenants.agent.models import AgentSettings

    fields = ["escalation_fallback", "transfer_text_staff"]
    changed = []

    def change(tenant, **values) -> None:
        with tenant_context(tenant):
            changed.append((tenant, AgentSettings.objects.values(*fields).get()))
            AgentSettings.objects.update(**values)

    yield change
    for tenant, saved in reversed(changed):
        with tenant_context(tenant):
            AgentSettings.objects.update(**saved)


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["message"]
    return body


# --- transfer_to_human -------------------------------------------------------------------------

def test_it_transfers_during_escalation_hours_and_records_the_target(committed_db, api_server, clock_at):
    clock_at(TUESDAY_11_NEW_YORK)
    salon = tenant_named("salon")
    call, token = a_call(salon)

    body = ok(tool(api_server, token, "transfer_to_human", {"reason": "Wants to discuss a complaint"}))

    assert body["result"] == {"action": "transfer", "transfer_to": "tel:+15550100900"}
    with tenant_context(salon):
        call.refresh_from_db()
        assert call.transferred_to == "tel:+15550100900"
        assert CallbackRequest.objects.count() == 0


def test_it_queues_a_callback_outside_escalation_hours(committed_db, api_server, clock_at):
    clock_at(SATURDAY_10_NEW_YORK)
    salon = tenant_named("salon")
    call, token = a_call(salon)

    body = ok(tool(api_server, token, "transfer_to_human", {"reason": "Wants a colour consultation"}))

    assert body["result"]["action"] == "callback"
    assert body["result"]["promise"] == "within two hours during opening hours"
    assert "call you back within two hours during opening hours" in body["message"]
    with tenant_context(salon):
        callback_request = CallbackRequest.objects.get(pk=body["result"]["callback_id"])
        assert (callback_request.caller_number, callback_request.reason) == (CALLER, "Wants a colour consultation")
        assert callback_request.call_id == call.pk
        call.refresh_from_db()
        assert call.transferred_to == ""


def test_escalation_hours_end_at_their_closing_minute(committed_db, api_server, clock_at):
    clock_at(TUESDAY_17_NEW_YORK)
    _call, token = a_call(tenant_named("salon"))
    assert ok(tool(api_server, token, "transfer_to_human", {"reason": "x"}))["result"]["action"] == "callback"


def test_it_uses_the_tenants_summer_time_for_escalation_hours(committed_db, api_server, clock_at):
    pizzeria = tenant_named("pizzeria")
    clock_at(FRIDAY_2130_BERLIN_SUMMER)
    _call, token = a_call(pizzeria)
    assert ok(tool(api_server, token, "transfer_to_human", {"reason": "Big party order"}))["result"] == {
        "action": "transfer", "transfer_to": "sip:kitchen@pizzeria.example"}

    clock_at(FRIDAY_2230_BERLIN_SUMMER)
    _call, token = a_call(pizzeria)
    assert ok(tool(api_server, token, "transfer_to_human", {"reason": "Big party order"}))["result"]["action"] == "callback"


def test_a_failed_transfer_becomes_a_callback_and_is_no_longer_recorded_as_transferred(committed_db, api_server, clock_at):
    clock_at(TUESDAY_11_NEW_YORK)
    salon = tenant_named("salon")
    call, token = a_call(salon)
    ok(tool(api_server, token, "transfer_to_human", {"reason": "Complaint"}))

    body = ok(tool(api_server, token, "transfer_to_human", {"reason": "Complaint", "transfer_failed": True}))

    assert body["result"]["action"] == "callback"
    assert body["message"].startswith("I couldn't put you through")
    with tenant_context(salon):
        call.refresh_from_db()
        assert call.transferred_to == ""
        assert CallbackRequest.objects.filter(call=call).count() == 1


def test_a_failed_transfer_at_a_business_that_takes_messages_asks_for_one_and_queues_no_callback(
        committed_db, api_server, clock_at, transfer_settings):
    clock_at(TUESDAY_11_NEW_YORK)
    salon = tenant_named("salon")
    transfer_settings(salon, escalation_fallback="message")
    call, token = a_call(salon)
    ok(tool(api_server, token, "transfer_to_human", {"reason": "Complaint"}))

    body = ok(tool(api_server, token, "transfer_to_human", {"reason": "Complaint", "transfer_failed": True}))

    assert body["result"] == {"action": "message"}
    assert "What message should I pass on" in body["message"]
    # The caller's message then arrives as a note, which is what the owner is told about.
    ok(tool(api_server, token, "log_note", {"note": "Please call about the burnt fringe."}))
    with tenant_context(salon):
        call.refresh_from_db()
        assert call.transferred_to == ""
        assert not CallbackRequest.objects.filter(call=call).exists()
        assert list(CallNote.objects.filter(call=call).values_list("text", flat=True)) == [
            "Please call about the burnt fringe."]


def test_a_business_that_texts_its_staff_phone_sends_the_caller_and_reason_as_the_transfer_starts(
        committed_db, api_server, clock_at, transfer_settings):
    from messaging.models import SmsMessage

    clock_at(TUESDAY_11_NEW_YORK)
    salon = tenant_named("salon")
    transfer_settings(salon, transfer_text_staff=True)
    call, token = a_call(salon)

    ok(tool(api_server, token, "transfer_to_human", {"reason": "Wants to discuss a complaint"}))

    with tenant_context(salon):
        sms = SmsMessage.objects.get(call=call)
    assert (sms.kind, sms.to_number) == ("transfer_context", "+15550100900")
    assert CALLER in sms.body and "Wants to discuss a complaint" in sms.body


def test_no_staff_text_unless_the_business_turned_it_on_or_for_a_sip_target(committed_db, api_server, clock_at,
                                                                           transfer_settings):
    from messaging.models import SmsMessage

    clock_at(TUESDAY_11_NEW_YORK)
    salon = tenant_named("salon")
    call, token = a_call(salon)
    ok(tool(api_server, token, "transfer_to_human", {"reason": "Complaint"}))
    pizzeria = tenant_named("pizzeria")
    transfer_settings(pizzeria, transfer_text_staff=True)
    clock_at(FRIDAY_2130_BERLIN_SUMMER)
    pizza_call, pizza_token = a_call(pizzeria)
    ok(tool(api_server, pizza_token, "transfer_to_human", {"reason": "Big party order"}))

    with tenant_context(salon):
        assert not SmsMessage.objects.filter(call=call).exists()
    with tenant_context(pizzeria):
        assert not SmsMessage.objects.filter(call=pizza_call).exists()


def test_a_callback_for_a_withheld_number_needs_a_number(committed_db, api_server, clock_at):
    clock_at(SATURDAY_10_NEW_YORK)
    salon = tenant_named("salon")
    _call, token = a_call(salon, caller_number="anonymous")

    assert_error(tool(api_server, token, "transfer_to_human", {"reason": "x"}), 422, "callback_number_required")
    assert_error(tool(api_server, token, "transfer_to_human", {"reason": "x", "callback_number": "12"}),
                 422, "invalid_phone_number")
    body = ok(tool(api_server, token, "transfer_to_human",
                   {"reason": "x", "callback_number": "(555) 222-3333", "caller_name": "Dana"}))

    assert body["result"]["callback_number"] == "+15552223333"
    with tenant_context(salon):
        assert CallbackRequest.objects.get().caller_name == "Dana"


# --- end_call ----------------------------------------------------------------------------------

def test_it_records_the_outcome_and_reason_and_says_hang_up(committed_db, api_server):
    salon = tenant_named("salon")
    call, token = a_call(salon)

    body = ok(tool(api_server, token, "end_call", {"reason": "Booked a haircut", "outcome": "booked"}))

    assert body["result"] == {"action": "hangup", "outcome": "booked"}
    with tenant_context(salon):
        call.refresh_from_db()
        assert (call.outcome, call.end_reason) == ("booked", "Booked a haircut")


def test_it_refuses_an_outcome_that_is_not_in_the_list(committed_db, api_server):
    salon = tenant_named("salon")
    call, token = a_call(salon)

    error = assert_error(tool(api_server, token, "end_call", {"reason": "x", "outcome": "abandoned"}), 422, "invalid_outcome")

    assert error["message"] == "The outcome must be one of: booked, ordered, answered, transferred, callback, other."
    assert error["details"]["valid_outcomes"] == list(Call.AGENT_OUTCOMES)
    with tenant_context(salon):
        call.refresh_from_db()
        assert call.outcome == ""


# --- log_note ----------------------------------------------------------------------------------

def test_it_attaches_the_note_to_the_call(committed_db, api_server):
    salon = tenant_named("salon")
    call, token = a_call(salon)

    body = ok(tool(api_server, token, "log_note", {"note": "Kundin möchte Termin 🙂 — 水曜日"}))

    with tenant_context(salon):
        note = CallNote.objects.get(pk=body["result"]["note_id"])
        assert (note.call_id, note.text) == (call.pk, "Kundin möchte Termin 🙂 — 水曜日")


# --- after the call ended, unknown tools -------------------------------------------------------

def test_after_the_call_ended_only_notes_are_accepted(committed_db, api_server, clock_at):
    clock_at(SATURDAY_10_NEW_YORK)
    salon = tenant_named("salon")
    call, token = a_call(salon)
    with tenant_context(salon):
        Call.objects.filter(pk=call.pk).update(status=Call.Status.ENDED)

    assert_error(tool(api_server, token, "transfer_to_human", {"reason": "x"}), 409, "call_ended")
    ok(tool(api_server, token, "log_note", {"note": "Caller hung up before booking"}))
    # The outcome is the log's now; a late end_call must not change it.
    assert_error(tool(api_server, token, "end_call", {"reason": "Caller hung up", "outcome": "other"}), 409, "call_ended")


def test_an_unknown_tool_is_a_404_naming_the_tools(committed_db, api_server):
    _call, token = a_call(tenant_named("salon"))
    error = assert_error(tool(api_server, token, "refund_order", {}), 404, "unknown_tool")
    assert "check_availability" in error["message"] and "log_note" in error["message"]


def test_an_unknown_tool_needs_a_token_too(committed_db, api_server):
    assert_error(tool(api_server, "nonsense", "refund_order", {}), 401, "invalid_token")


def test_other_methods_and_paths_answer_in_the_same_format(committed_db, api_server):
    _call, token = a_call(tenant_named("salon"))
    response = requests.get(f"{api_server.url}/internal/voice-tools/log_note",
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert_error(response, 405, "method_not_allowed")
    assert_error(requests.post(f"{api_server.url}/internal/nothing-here", timeout=5), 404, "not_found")


def test_the_openapi_schema_is_public_and_documents_every_endpoint(committed_db, api_server):
    import yaml

    response = requests.get(f"{api_server.url}/internal/schema/", timeout=10)
    assert response.status_code == 200
    schema = yaml.safe_load(response.text)
    assert set(schema["paths"]) == {
        "/internal/calls/start", "/internal/calls/{call_id}/log", "/internal/calls/{call_id}/recording",
        "/internal/calls/{call_id}/callback-attempt", *(f"/internal/voice-tools/{name}" for name in TOOL_NAMES),
    }
    booking = schema["paths"]["/internal/voice-tools/create_booking"]["post"]
    assert {"Idempotency-Key"} <= {parameter["name"] for parameter in booking["parameters"]}
    assert {"200", "400", "401", "409", "422"} <= set(booking["responses"])
    assert booking["security"] == [{"callToken": []}]
    assert schema["paths"]["/internal/calls/start"]["post"]["security"] == [{"internalToken": []}]
    # What a client can know before asking: required text is not empty, and the outcomes end_call takes.
    booking_request = schema["components"]["schemas"]["CreateBookingRequest"]["properties"]
    assert booking_request["customer_name"]["minLength"] == 1 and "minLength" not in booking_request["notes"]
    # ...and that unknown fields and an empty order are refused, as the API does.
    order_request = schema["components"]["schemas"]["CreateOrderRequest"]
    assert order_request["additionalProperties"] is False
    assert (order_request["properties"]["items"]["minItems"], order_request["properties"]["items"]["maxItems"]) == (1, 50)
    assert schema["components"]["schemas"]["OrderItem"]["additionalProperties"] is False
    assert schema["components"]["schemas"]["OutcomeEnum"]["enum"] == [
        "booked", "ordered", "answered", "transferred", "callback", "other"]


def test_a_bug_is_a_logged_json_500_with_an_apology(committed_db, api_server, monkeypatch, caplog):
    def broken(**_kwargs):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr("voiceapi.tools.call_note_add", broken)
    _call, token = a_call(tenant_named("salon"))

    response = tool(api_server, token, "log_note", {"note": "x"})

    assert response.status_code == 500
    assert response.json() == {"ok": False, "error": {
        "code": "internal_error", "message": "Sorry, something went wrong on our side. Please try again in a moment."}}
    assert any("internal API error in LogNoteView" in record.getMessage() and record.exc_info for record in caplog.records)


def test_the_openapi_schema_is_valid_openapi():
    from io import StringIO

    from django.core.management import call_command

    # --validate checks the document against the OpenAPI 3.1 JSON schema; warnings would also fail.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO())
