"""The agent settings page in the tenant admin: one page, validated, and what the next call gets."""
import datetime as dt
import json
import zoneinfo

from django.test import Client
from django_tenants.utils import schema_context

from tenants.agent.models import AgentSettings, EscalationHours


def settings_page(client: Client):
    response = client.get("/admin/agent/agentsettings/")
    assert response.status_code == 302
    return response.headers["Location"]


def form_data(agent: AgentSettings, hours: list[tuple[int, str, str]], **changes) -> dict:
    """What the browser posts: every field of the settings plus the escalation hours formset."""
    data = {
        "business_name": agent.business_name, "greeting": agent.greeting, "language": agent.language,
        "voice_id": agent.voice_id, "voice_speed": str(agent.voice_speed), "instructions": agent.instructions,
        "max_call_seconds": agent.max_call_seconds, "first_warning_seconds": agent.first_warning_seconds,
        "final_warning_seconds": agent.final_warning_seconds, "transfer_to": agent.transfer_to,
        "escalation_fallback": agent.escalation_fallback, "callback_promise": agent.callback_promise,
        "keypad_operator_key": agent.keypad_operator_key,
        "transfer_ringing_seconds": agent.transfer_ringing_seconds,
        "transfer_text_staff": "on" if agent.transfer_text_staff else "",
        "transfer_mode": agent.transfer_mode,
        "sms_confirmations": "on" if agent.sms_confirmations else "", "capabilities": agent.capabilities,
        "record_calls": "on" if agent.record_calls else "", "recording_disclosure": agent.recording_disclosure,
        "recording_retention_days": agent.recording_retention_days,
        "recording_retention_deletes_transcript": "on" if agent.recording_retention_deletes_transcript else "",
        **callback_form_data(agent),
    }
    data.update(changes)
    existing = list(EscalationHours.objects.order_by("weekday", "starts"))
    data.update({
        "escalation_hours-TOTAL_FORMS": str(max(len(hours), len(existing))),
        "escalation_hours-INITIAL_FORMS": str(len(existing)),
        "escalation_hours-MIN_NUM_FORMS": "0",
        "escalation_hours-MAX_NUM_FORMS": "1000",
    })
    for index in range(max(len(hours), len(existing))):
        if index < len(existing):
            data[f"escalation_hours-{index}-id"] = str(existing[index].pk)
        if index < len(hours):
            weekday, starts, ends = hours[index]
            data.update({f"escalation_hours-{index}-weekday": str(weekday), f"escalation_hours-{index}-starts": starts,
                         f"escalation_hours-{index}-ends": ends})
        else:
            data[f"escalation_hours-{index}-DELETE"] = "on"
            data.update({f"escalation_hours-{index}-weekday": str(existing[index].weekday),
                         f"escalation_hours-{index}-starts": f"{existing[index].starts:%H:%M}",
                         f"escalation_hours-{index}-ends": f"{existing[index].ends:%H:%M}"})
    return data


def callback_form_data(agent: AgentSettings) -> dict:
    """The "Callbacks the agent returns" section as the page shows it."""
    return {"agent_returns_callbacks": "on" if agent.agent_returns_callbacks else "",
            "callback_max_attempts": agent.callback_max_attempts, "callback_retry_minutes": agent.callback_retry_minutes,
            "callback_max_concurrent": agent.callback_max_concurrent,
            "callback_window_start_hour": agent.callback_window_start_hour,
            "callback_window_end_hour": agent.callback_window_end_hour,
            "callback_abroad_allowed": "on" if agent.callback_abroad_allowed else ""}


DEMO_HOURS = [(1, "10:00", "17:00"), (2, "10:00", "17:00"), (3, "10:00", "17:00"), (4, "10:00", "17:00")]


def test_it_shows_settings_and_escalation_hours_on_one_page(salon_admin):
    page = salon_admin.get(settings_page(salon_admin)).content.decode()

    assert "Thanks for calling Bella Hair Studio" in page
    assert 'name="max_call_seconds"' in page and 'name="transfer_to"' in page and 'name="sms_confirmations"' in page
    assert 'name="escalation_hours-0-weekday"' in page
    assert 'value="10:00"' in page


def test_it_saves_a_new_greeting_that_the_next_call_start_returns(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        data = form_data(agent, DEMO_HOURS, greeting="Bella Hair Studio, Ava speaking!")

    response = salon_admin.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert "The next call uses these settings" in salon_admin.get(response.headers["Location"]).content.decode()
    call_start = Client(HTTP_HOST="localhost").post(
        "/internal/calls/start",
        data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456", "room": "r1",
                         "sip_call_id": "s1"}),
        content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token",
    )
    assert call_start.status_code == 201
    assert call_start.json()["config"]["greeting"] == "Bella Hair Studio, Ava speaking!"


def test_it_saves_the_key_to_reach_a_person_that_the_next_call_start_returns(salon_admin):
    url = settings_page(salon_admin)
    assert 'name="keypad_operator_key"' in salon_admin.get(url).content.decode()
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, keypad_operator_key="*")

    assert salon_admin.post(url, data).status_code == 302
    call_start = Client(HTTP_HOST="localhost").post(
        "/internal/calls/start",
        data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456", "room": "r-keypad",
                         "sip_call_id": "s-keypad"}),
        content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token",
    )
    assert call_start.status_code == 201
    assert call_start.json()["config"]["keypad"] == {"operator_key": "*"}


def test_it_refuses_a_key_no_keypad_has(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, keypad_operator_key="10")
    assert "Select a valid choice. 10 is not one of the available choices." in refused(salon_admin, url, data)
    with schema_context("salon"):
        assert AgentSettings.objects.get().keypad_operator_key == "0"


def test_it_stores_a_transfer_number_in_any_format_as_tel_e164(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_to="(212) 555-0199")
    assert salon_admin.post(url, data).status_code == 302
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == "tel:+12125550199"


def refused(client, url, data) -> str:
    response = client.post(url, data)
    assert response.status_code == 200, "the form was accepted"
    return response.content.decode()


def test_it_refuses_a_transfer_target_that_is_neither_a_number_nor_sip(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_to="call the front desk")
    assert "is neither a phone number nor a SIP URI" in refused(salon_admin, url, data)
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == "tel:+15550100900"


def test_it_switches_to_warm_transfers_which_the_next_call_start_carries(salon_admin):
    url = settings_page(salon_admin)
    assert 'name="transfer_mode"' in salon_admin.get(url).content.decode()
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_mode="warm")

    response = salon_admin.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    call_start = Client(HTTP_HOST="localhost").post(
        "/internal/calls/start",
        data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456", "room": "r-warm",
                         "sip_call_id": "s-warm"}),
        content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token",
    )
    assert call_start.json()["config"]["transfer"]["mode"] == "warm"


def test_it_refuses_a_transfer_mode_it_does_not_offer(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_mode="lukewarm")

    response = salon_admin.post(url, data)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_mode == "cold"


def test_it_refuses_the_businesss_own_number_as_transfer_target_a_loop(salon_admin):
    from tenants.models import PhoneNumber, Tenant

    # A second line of the salon's, written the way the owner would type it.
    PhoneNumber.objects.create(number="+12125550111", tenant=Tenant.objects.get(schema_name="salon"))
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_to="(212) 555-0111")
    page = refused(salon_admin, url, data)
    assert "is a number Soniq answers" in page and "loop" in page
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == "tel:+15550100900"


def test_it_refuses_another_soniq_businesss_number_and_a_sip_address_of_one(salon_admin):
    url = settings_page(salon_admin)
    for target in ("+49 30 55500002", "sip:+15550100001@sip.soniq.example"):
        with schema_context("salon"):
            data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_to=target)
        assert "is a number Soniq answers" in refused(salon_admin, url, data), target
    with schema_context("salon"):
        assert AgentSettings.objects.get().transfer_to == "tel:+15550100900"


def test_the_ringing_timeout_and_fallback_set_here_reach_the_next_call(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_ringing_seconds="12",
                         escalation_fallback="message")
    response = salon_admin.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    call_start = Client(HTTP_HOST="localhost").post(
        "/internal/calls/start",
        data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456", "room": "r1",
                         "sip_call_id": "s1"}),
        content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token",
    )
    transfer = call_start.json()["config"]["transfer"]
    assert (transfer["ringing_timeout_seconds"], transfer["fallback"]) == (12, "message")


def test_it_refuses_a_ringing_timeout_out_of_range(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, transfer_ringing_seconds="120")
    assert "Ensure this value is less than or equal to 60" in refused(salon_admin, url, data)


def test_it_offers_only_languages_whose_translations_are_complete(salon_admin):
    url = settings_page(salon_admin)
    page = salon_admin.get(url).content.decode()
    assert '<option value="en" selected>English (en)</option>' in page
    assert '<option value="es">Spanish (es)</option>' in page
    assert 'value="de"' not in page  # German's catalog has only its filler so far

    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        german, spanish = form_data(agent, DEMO_HOURS, language="de"), form_data(agent, DEMO_HOURS, language="es")
    assert "de is not one of the available choices" in refused(salon_admin, url, german)
    assert salon_admin.post(url, spanish).status_code == 302
    with schema_context("salon"):
        assert AgentSettings.objects.get().language == "es"


def test_a_business_keeps_a_language_no_longer_offered_with_a_warning(salon_admin):
    # Chosen before only complete catalogs were offered: its calls go on, some sentences in English.
    with schema_context("salon"):
        AgentSettings.objects.update(language="pl-PL")
        agent = AgentSettings.objects.get()
    url = settings_page(salon_admin)
    page = salon_admin.get(url).content.decode()
    assert '<option value="pl-PL" selected>Polish (pl-PL), incomplete</option>' in page
    assert "Callers hear some sentences in English: the Polish (pl-PL) translation is not complete." in page

    assert salon_admin.post(url, form_data(agent, DEMO_HOURS, greeting="Dzień dobry!")).status_code == 302
    with schema_context("salon"):
        assert (AgentSettings.objects.get().language, AgentSettings.objects.get().greeting) == ("pl-PL", "Dzień dobry!")


def test_it_refuses_warnings_longer_than_the_call(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        too_long = form_data(agent, DEMO_HOURS, max_call_seconds="120", first_warning_seconds="150")
        final_after_first = form_data(agent, DEMO_HOURS, first_warning_seconds="60", final_warning_seconds="90")

    assert "The first warning must come before the call" in refused(salon_admin, url, too_long)
    assert "The final warning must come after" in refused(salon_admin, url, final_after_first)
    with schema_context("salon"):
        assert AgentSettings.objects.get().max_call_seconds == 600


def test_it_refuses_a_call_length_out_of_range(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, max_call_seconds="30")
    assert "Ensure this value is greater than or equal to 60" in refused(salon_admin, url, data)


def test_it_refuses_overlapping_escalation_hours(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), [*DEMO_HOURS, (1, "16:00", "19:00")])

    page = refused(salon_admin, url, data)

    assert "Escalation hours on Tuesday overlap: 10:00–17:00 and 16:00–19:00" in page
    with schema_context("salon"):
        assert EscalationHours.objects.count() == 4


def test_it_refuses_escalation_hours_that_end_before_they_start(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), [*DEMO_HOURS, (5, "18:00", "09:00")])
    assert "Must be later than 18:00" in refused(salon_admin, url, data)


def test_it_adds_and_removes_escalation_hours(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), [(1, "10:00", "12:00"), (1, "13:00", "17:00"), (5, "10:00", "14:00")])

    assert salon_admin.post(url, data).status_code == 302

    with schema_context("salon"):
        assert [str(hours) for hours in EscalationHours.objects.all()] == [
            "Tuesday 10:00–12:00", "Tuesday 13:00–17:00", "Saturday 10:00–14:00",
        ]


def test_it_neither_adds_nor_deletes_the_settings_row(salon_admin):
    assert salon_admin.get("/admin/agent/agentsettings/add/").status_code == 403
    with schema_context("salon"):
        pk = AgentSettings.objects.get().pk
    assert salon_admin.get(f"/admin/agent/agentsettings/{pk}/delete/").status_code == 403


def test_it_takes_effect_for_transfers_at_the_new_hours(salon_admin):
    from calls.selectors import transfer_target_at

    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), [(0, "08:00", "09:00")])
    assert salon_admin.post(url, data).status_code == 302

    with schema_context("salon"):
        tz = zoneinfo.ZoneInfo("America/New_York")
        monday_8_30 = dt.datetime(2026, 3, 9, 8, 30, tzinfo=tz)
        assert transfer_target_at(at=monday_8_30, tz=tz) == "tel:+15550100900"
        assert transfer_target_at(at=monday_8_30 + dt.timedelta(days=1), tz=tz) == ""


def test_it_turns_recording_on_and_the_next_call_starts_with_the_disclosure(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        data = form_data(agent, DEMO_HOURS, record_calls="on", recording_retention_days="14")

    response = salon_admin.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    call_start = Client(HTTP_HOST="localhost").post(
        "/internal/calls/start",
        data=json.dumps({"called_number": "+15550100001", "caller_number": "+15550123456", "room": "r2"}),
        content_type="application/json", HTTP_AUTHORIZATION="Bearer test-internal-token")
    config = call_start.json()["config"]
    assert config["recording"] == {"enabled": True, "disclosure": "This call is recorded so we can serve you better."}
    assert config["greeting"] == f"This call is recorded so we can serve you better. {agent.greeting}"
    with schema_context("salon"):
        assert AgentSettings.objects.get().recording_retention_days == 14


def test_it_lets_the_owner_turn_on_callbacks_by_the_agent_with_their_limits(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        agent = AgentSettings.objects.get()
        assert agent.agent_returns_callbacks is False  # off until the owner turns it on
        data = form_data(agent, DEMO_HOURS, agent_returns_callbacks="on", callback_max_attempts="2",
                         callback_retry_minutes="45", callback_max_concurrent="3", callback_window_start_hour="10",
                         callback_window_end_hour="19", callback_abroad_allowed="on")

    assert "Callbacks the agent returns" in salon_admin.get(url).content.decode()
    response = salon_admin.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("salon"):
        saved = AgentSettings.objects.values(*(name for name in callback_form_data(agent))).get()
    assert saved == {"agent_returns_callbacks": True, "callback_max_attempts": 2, "callback_retry_minutes": 45,
                     "callback_max_concurrent": 3, "callback_window_start_hour": 10, "callback_window_end_hour": 19,
                     "callback_abroad_allowed": True}


def test_it_refuses_a_calling_window_that_ends_before_it_starts(salon_admin):
    url = settings_page(salon_admin)
    with schema_context("salon"):
        data = form_data(AgentSettings.objects.get(), DEMO_HOURS, callback_window_start_hour="20",
                         callback_window_end_hour="9")

    page = salon_admin.post(url, data).content.decode()

    assert "The calling window must end after it starts." in page
