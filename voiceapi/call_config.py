"""The configuration the voice worker runs a call with: the tools offered, the system prompt, the voices
and models. Built at call start in the tenant's schema; its shape is `core.call_contract.CallConfig`
(documented in docs/internal-api.md).
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import translation

from bookings.catalog import services_summary
from bookings.models import Service
from calls.models import Call, CallbackRequest
from calls.selectors import transfer_target_at
from core.call_contract import (
    STT_KEYTERM_MAX_CHARS,
    STT_KEYTERMS_MAX,
    CallbackConfig,
    CallConfig,
    Capability,
    KeypadConfig,
    RecordingConfig,
    SttConfig,
    TransferConfig,
    VoiceConfig,
    WarningsConfig,
    tools_for,
)
from core.call_phrases import CALLBACK_OPENING, CALLBACK_VOICEMAIL, PHRASES
from core.catalogs import spoken_language_name
from core.phone import is_e164
from core.phrasing import calendar_date
from messaging.sms import signalwire_missing_settings
from orders.models import MenuItem
from orders.selectors import menu_summary
from tenants.agent.models import AgentSettings
from tenants.agent.selectors import agent_settings_get, business_capabilities, business_facts_summary
from tenants.hours.selectors import opening_hours_summary, upcoming_closures
from tenants.models import Tenant


def _capabilities() -> set[Capability]:
    """What this business offers callers today: what it chose to do (AgentSettings.capabilities: a
    salon that adds a menu item by mistake does not start taking orders) and has something for, an
    active service or an available menu item. Which tools each brings is the table's
    (core.call_contract.TOOLS)."""
    chosen = business_capabilities()
    capabilities = set()
    if chosen.takes_bookings and Service.objects.filter(active=True).exists():
        capabilities.add(Capability.BOOKINGS)
    if chosen.takes_orders and MenuItem.objects.filter(available=True).exists():
        capabilities.add(Capability.ORDERS)
    return capabilities


def _utc_offset(local: dt.datetime) -> str:
    offset = local.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def call_instructions_build(*, tenant: Tenant, agent_settings: AgentSettings, call: Call, local: dt.datetime,
                            capabilities: set[Capability], transfer_target: str,
                            callback_request: CallbackRequest | None = None) -> str:
    """The system prompt: the tenant's own prompt, the business's facts and the rules that keep the
    agent honest, and last the lines of this one call (the time, the caller's number). Everything
    before those is the same for every call of the day, so providers that cache prompt prefixes
    reuse it across calls. Summaries come from the apps that own the data."""

    sections = [agent_settings.instructions.strip()] if agent_settings.instructions.strip() else []
    context = [
        "## The business",
        f"You answer the phone for {agent_settings.business_name}.",
        "",
        "## Language",
        language_instruction(agent_settings.language),
        "",
        "## Opening hours (local time)",
        opening_hours_summary(),
    ]
    closures = upcoming_closures(from_date=local.date(), days=60)
    if closures:
        context += ["", "## Closed on"]
        context += [f"- {calendar_date(closure.date)}" + (f" ({closure.reason})" if closure.reason else "")
                    for closure in closures]
    bookings, orders = Capability.BOOKINGS in capabilities, Capability.ORDERS in capabilities
    if bookings:
        context += ["", "## Services", services_summary()]
    if orders:
        context += ["", "## Menu", menu_summary()]
    facts = business_facts_summary()
    if facts:
        context += ["", "## Facts about the business (answer questions about these from here)", facts]
    rules = ["", "## Rules"]
    if bookings:
        rules += [
            "- Never guess availability: call check_availability before offering or confirming a time, and "
            "create_booking to book. A booking exists only once create_booking has succeeded.",
            "- Dates and times you pass to tools are local time, written like 2026-03-10 and 14:30 "
            "(or 2026-03-10T14:30 for a start time).",
        ]
    if orders:
        rules += ["- Only order what is on the menu; an order exists only once create_order has succeeded, "
                  "and the total it returns is the one to tell the caller."]
    if bookings or orders:
        rules += ["- Names and numbers are easily misheard: before a booking or an order is made, the caller hears it "
                  "read back. Call create_booking or create_order with confirmed false first and say the read_back it "
                  "returns (it spells the phone number digit by digit); call it again with confirmed true only after "
                  "the caller's yes, with their corrections if they made any."]
    rules += caller_change_rules(capabilities=capabilities)
    if agent_settings.sms_confirmations and not signalwire_missing_settings():
        rules += ["- The caller gets a text message confirming each booking or order"
                  + (" and a reminder the day before a booking" if bookings else "")
                  + "; you may say so."]
    rules += [
        "- Never invent prices, times, availability or policies. If a tool fails, say what it said.",
        "- If the caller asks something that nothing here answers (the facts, hours, services or menu above), "
        "say \"I'm not sure, I can take a message\" and offer to leave one with log_note; never guess an answer.",
        "- If the caller asks for a person, call transfer_to_human."
        + (" Someone can take the call right now." if transfer_target else
           f" Nobody can take calls right now, so that queues a callback ({agent_settings.callback_promise})."),
        "- Use log_note for anything the business should know that no other tool records.",
        "- When the conversation is finished, say goodbye and call end_call with the outcome.",
        "- Keep every answer short and natural: this is a phone call.",
    ]
    this_call = [
        "",
        "## This call",
        f"Right now it is {calendar_date(local.date())}, {local:%H:%M} local time "
        f"({tenant.timezone}, {local.tzname()}, {_utc_offset(local)}).",
        f"The caller is calling from {call.caller_number}; use it as their phone number unless they give another."
        if is_e164(call.caller_number) else
        "The caller's number is withheld; ask for a phone number when you need one.",
    ]
    if callback_request is not None:
        this_call[-1] = (f"This is a call you placed: you are calling the customer back on {call.caller_number} "
                         "(use it as their phone number unless they give another); they asked for a callback "
                         f"about: {callback_request.reason}. You have just said so; now help them with it using "
                         "the same tools. If they ask not to be called again, call do_not_call and say you "
                         "will not call again.")
    sections.append("\n".join(context + rules + this_call))
    return "\n\n".join(sections)


def language_instruction(language: str) -> str:
    """Which language to speak: the business's, whose catalog the tools' sentences come from (the
    voice speaks it too: the worker sets the TTS language from the config's `language`)."""
    name = spoken_language_name(language)
    return (f"Speak {name}: greet, answer and read back in {name}. If the caller speaks another language, answer in "
            f"theirs. The tools' messages are already in {name}; say them as they are.")


def caller_change_rules(*, capabilities: set[Capability]) -> list[str]:
    """The rules for callers with existing business: look before changing, read back before writing."""
    rules = []
    if Capability.BOOKINGS in capabilities:
        rules += [
            "- To move or cancel a booking, call find_bookings first and use the booking_id it returns; never "
            "guess one. If the caller booked from another phone (or their number is withheld), ask for that "
            "number and the name the booking is under and pass both.",
            "- Before reschedule_booking or cancel_booking, read the change back (the service, the old and the "
            "new day and time) and wait for the caller's yes. For a new time, check_availability first.",
        ]
    if Capability.ORDERS in capabilities:
        rules += ["- When the caller asks about an order they placed, call order_status; tell them what it says."]
    return rules


def call_config_build(*, tenant: Tenant, call: Call, now: dt.datetime,
                      agent_settings: AgentSettings | None = None,
                      callback_request: CallbackRequest | None = None) -> CallConfig:
    """Everything the voice worker needs to run `call` (core.call_contract.CallConfig: the providers
    and models are its defaults). `agent_settings`: unsaved settings for a test call
    (voiceapi/trial_calls.py); the saved ones otherwise."""
    agent_settings = agent_settings or agent_settings_get()
    local = now.astimezone(tenant.tzinfo)
    capabilities = _capabilities()
    # A test call (the owner trying the agent in the browser) is not recorded: its writes are removed.
    recording = agent_settings.record_calls and not call.is_test
    # A test call queues a (test) callback instead of transferring: a browser is no phone line.
    transfer_target = "" if call.is_test else transfer_target_at(at=now, tz=tenant.tzinfo, agent_settings=agent_settings)
    greeting = agent_settings.greeting
    callback = CallbackConfig()
    if callback_request is not None:
        # An outbound call returning a callback: the agent says who is calling and why, in the
        # tenant's language (the reason is the caller's own words).
        with translation.override(agent_settings.language):
            words = {"business": agent_settings.business_name, "reason": callback_request.reason.strip().rstrip(".")}
            greeting = translation.gettext(CALLBACK_OPENING).format(**words)
            callback = CallbackConfig(callback_id=callback_request.pk, dial_number=callback_request.caller_number,
                                      from_number=call.called_number,
                                      voicemail_message=translation.gettext(CALLBACK_VOICEMAIL).format(**words))
    return CallConfig(
        tenant=tenant.schema_name,
        business_name=agent_settings.business_name,
        timezone=tenant.timezone,
        local_time=local.isoformat(timespec="seconds"),
        language=agent_settings.language,
        # The disclosure is the greeting's first sentence: one utterance, so nothing (a tool, a
        # caller's early question) can come between the two.
        greeting=f"{agent_settings.disclosure_text()} {greeting}" if recording else greeting,
        instructions=call_instructions_build(tenant=tenant, agent_settings=agent_settings, call=call, local=local,
                                             capabilities=capabilities, transfer_target=transfer_target,
                                             callback_request=callback_request),
        # Only a phone number (rows stored before caller ids were cleaned may hold anything).
        caller_number=call.caller_number if is_e164(call.caller_number) else "",
        voice=VoiceConfig(voice_id=agent_settings.voice_id or settings.DEFAULT_VOICE_ID,
                          speed=float(agent_settings.voice_speed)),
        stt=SttConfig(keyterms=stt_keyterms(business_name=agent_settings.business_name, capabilities=capabilities)),
        max_call_seconds=call.max_call_seconds,
        warnings=WarningsConfig(first_seconds=agent_settings.first_warning_seconds,
                                final_seconds=agent_settings.final_warning_seconds),
        transfer=TransferConfig(available_now=bool(transfer_target), target=agent_settings.transfer_to,
                                ringing_timeout_seconds=agent_settings.transfer_ringing_seconds,
                                fallback=agent_settings.escalation_fallback,
                                mode=agent_settings.transfer_mode),
        callback_promise=agent_settings.callback_promise,
        tools=tools_for(capabilities, callback=callback_request is not None),
        test=call.is_test,
        recording=RecordingConfig(enabled=recording, disclosure=agent_settings.disclosure_text() if recording else ""),
        phrases=call_phrases_build(language=agent_settings.language),
        keypad=KeypadConfig(operator_key=agent_settings.keypad_operator_key),
        callback=callback,
    )


def stt_keyterms(*, business_name: str, capabilities: set[Capability]) -> tuple[str, ...]:
    """The words speech recognition should get right (Deepgram Nova-3's keyterm prompting): the
    business's name, then its services and menu items, the ones the caller can ask for today (their
    names, not the aliases: "cut" or "coke" are words the model knows, "Quattro Formaggi" is not); each
    once (case aside), bounded in count and length (core.call_contract.STT_KEYTERMS_MAX)."""
    candidates = [business_name]
    if Capability.BOOKINGS in capabilities:
        candidates += Service.objects.filter(active=True).order_by("name").values_list("name", flat=True)
    if Capability.ORDERS in capabilities:
        candidates += MenuItem.objects.filter(available=True).order_by("pk").values_list("name", flat=True)
    keyterms, seen = [], set()
    for term in (" ".join(str(candidate).split()) for candidate in candidates):
        if term and len(term) <= STT_KEYTERM_MAX_CHARS and term.casefold() not in seen:
            seen.add(term.casefold())
            keyterms.append(term)
    return tuple(keyterms[:STT_KEYTERMS_MAX])


def call_phrases_build(*, language: str) -> dict[str, str]:
    """The worker's own sentences in the tenant's language, from Django's catalogs (the worker's job
    processes load no app and cannot read them; one catalog for every sentence a caller hears). A
    sentence the catalog lacks stays English."""
    with translation.override(language):
        return {key: translation.gettext(english) for key, english in PHRASES.items()}
