"""The configuration the voice worker runs a call with: the tools offered, the system prompt, the voices
and models. Built at call start in the tenant's schema; its shape is documented in docs/internal-api.md
and by `CallConfigSerializer`.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import translation

from bookings.catalog import services_summary
from bookings.models import Service
from calls.models import Call
from calls.selectors import transfer_target_at
from core.call_contract import (
    CONFIG_VERSION,
    KEYPAD_OPERATOR_KEY,
    LLM_MODEL,
    LLM_PROVIDER,
    STT_LANGUAGE,
    STT_MODEL,
    STT_PROVIDER,
    VOICE_MODEL,
    VOICE_PROVIDER,
    CallConfig,
)
from core.call_phrases import PHRASES
from core.phone import is_e164
from core.phrasing import calendar_date
from messaging.sms import signalwire_missing_settings
from orders.models import MenuItem
from orders.selectors import menu_summary
from tenants.agent.models import AgentSettings
from tenants.agent.selectors import agent_settings_get, business_facts_summary
from tenants.hours.selectors import opening_hours_summary, upcoming_closures
from tenants.models import Tenant

BOOKING_TOOLS = ("check_availability", "create_booking", "find_bookings", "reschedule_booking", "cancel_booking")
ORDER_TOOLS = ("create_order", "order_status")
COMMON_TOOLS = ("transfer_to_human", "end_call", "log_note")


def _tools_offered() -> list[str]:
    tools: list[str] = []
    if Service.objects.filter(active=True).exists():
        tools += BOOKING_TOOLS
    if MenuItem.objects.filter(available=True).exists():
        tools += ORDER_TOOLS
    return tools + list(COMMON_TOOLS)


def _utc_offset(local: dt.datetime) -> str:
    offset = local.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def call_instructions_build(*, tenant: Tenant, agent_settings: AgentSettings, call: Call, local: dt.datetime,
                            tools: list[str], transfer_target: str) -> str:
    """The system prompt: the tenant's own prompt, the business's facts and the rules that keep the
    agent honest, and last the lines of this one call (the time, the caller's number). Everything
    before those is the same for every call of the day, so providers that cache prompt prefixes
    reuse it across calls. Summaries come from the apps that own the data."""

    sections = [agent_settings.instructions.strip()] if agent_settings.instructions.strip() else []
    context = [
        "## The business",
        f"You answer the phone for {agent_settings.business_name}.",
        "",
        "## Opening hours (local time)",
        opening_hours_summary(),
    ]
    closures = upcoming_closures(from_date=local.date(), days=60)
    if closures:
        context += ["", "## Closed on"]
        context += [f"- {calendar_date(closure.date)}" + (f" ({closure.reason})" if closure.reason else "")
                    for closure in closures]
    if "check_availability" in tools:

        context += ["", "## Services", services_summary()]
    if "create_order" in tools:

        context += ["", "## Menu", menu_summary()]
    facts = business_facts_summary()
    if facts:
        context += ["", "## Facts about the business (answer questions about these from here)", facts]
    rules = ["", "## Rules"]
    if "check_availability" in tools:
        rules += [
            "- Never guess availability: call check_availability before offering or confirming a time, and "
            "create_booking to book. A booking exists only once create_booking has succeeded.",
            "- Dates and times you pass to tools are local time, written like 2026-03-10 and 14:30 "
            "(or 2026-03-10T14:30 for a start time).",
        ]
    if "create_order" in tools:
        rules += ["- Only order what is on the menu; an order exists only once create_order has succeeded, "
                  "and the total it returns is the one to tell the caller."]
    rules += caller_change_rules(tools=tools)
    if agent_settings.sms_confirmations and not signalwire_missing_settings():
        rules += ["- The caller gets a text message confirming each booking or order"
                  + (" and a reminder the day before a booking" if "check_availability" in tools else "")
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
    sections.append("\n".join(context + rules + this_call))
    return "\n\n".join(sections)


def caller_change_rules(*, tools: list[str]) -> list[str]:
    """The rules for callers with existing business: look before changing, read back before writing."""
    rules = []
    if "find_bookings" in tools:
        rules += [
            "- To move or cancel a booking, call find_bookings first and use the booking_id it returns; never "
            "guess one. If the caller booked from another phone (or their number is withheld), ask for that "
            "number and the name the booking is under and pass both.",
            "- Before reschedule_booking or cancel_booking, read the change back (the service, the old and the "
            "new day and time) and wait for the caller's yes. For a new time, check_availability first.",
        ]
    if "order_status" in tools:
        rules += ["- When the caller asks about an order they placed, call order_status; tell them what it says."]
    return rules


def call_config_build(*, tenant: Tenant, call: Call, now: dt.datetime) -> CallConfig:
    """Everything the voice worker needs to run `call`. The shape is documented in
    docs/internal-api.md, `CallConfigSerializer` and core/call_contract.py (the worker reads the same names)."""
    agent_settings = agent_settings_get()
    local = now.astimezone(tenant.tzinfo)
    tools = _tools_offered()
    transfer_target = transfer_target_at(at=now, tz=tenant.tzinfo, agent_settings=agent_settings)
    return {
        "config_version": CONFIG_VERSION,
        "tenant": tenant.schema_name,
        "business_name": agent_settings.business_name,
        "timezone": tenant.timezone,
        "local_time": local.isoformat(timespec="seconds"),
        "language": agent_settings.language,
        "greeting": agent_settings.greeting,
        "instructions": call_instructions_build(tenant=tenant, agent_settings=agent_settings, call=call, local=local,
                                                tools=tools, transfer_target=transfer_target),
        # Only a phone number (rows stored before caller ids were cleaned may hold anything).
        "caller_number": call.caller_number if is_e164(call.caller_number) else "",
        "voice": {
            "provider": VOICE_PROVIDER,
            "model": VOICE_MODEL,
            "voice_id": agent_settings.voice_id or settings.DEFAULT_VOICE_ID,
            "speed": float(agent_settings.voice_speed),
        },
        "stt": {"provider": STT_PROVIDER, "model": STT_MODEL, "language": STT_LANGUAGE},
        "llm": {"provider": LLM_PROVIDER, "model": LLM_MODEL},
        "max_call_seconds": call.max_call_seconds,
        "warnings": {
            "first_seconds": agent_settings.first_warning_seconds,
            "final_seconds": agent_settings.final_warning_seconds,
        },
        "transfer": {"available_now": bool(transfer_target), "target": agent_settings.transfer_to},
        "callback_promise": agent_settings.callback_promise,
        "tools": tools,
        "phrases": call_phrases_build(language=agent_settings.language),
        "keypad": {"operator_key": KEYPAD_OPERATOR_KEY},
    }


def call_phrases_build(*, language: str) -> dict[str, str]:
    """The worker's own sentences in the tenant's language, from Django's catalogs (the worker's job
    processes load no app and cannot read them; one catalog for every sentence a caller hears). A
    sentence the catalog lacks stays English."""
    with translation.override(language):
        return {key: translation.gettext(english) for key, english in PHRASES.items()}
