"""Plausible recent phone activity for the demo tenants: calls with transcripts and tool calls,
bookings, orders, callback requests and SMS, spread over the last 30 days in the tenant's own
opening hours. `manage.py seed_demo_activity` runs it, so `make run` has a dashboard worth looking
at; the browser tests use it for the screenshots.

Deterministic for a given seed and "now". Caller numbers are in the +1 555-01xx range, which is
reserved for fiction. Bookings are placed on a free lane of their service (the exclusion
constraint refuses overlaps), so the data is as consistent as what the voice API writes.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django_tenants.utils import schema_context

from bookings.models import Booking, Service
from calls.models import Call, CallbackRequest, CallNote, ToolInvocation, TranscriptTurn
from messaging.models import SmsMessage
from orders.models import MenuItem, Order, OrderingPolicy, OrderLine
from tenants.agent.models import AgentSettings
from tenants.hours.models import OpeningHours
from tenants.models import Tenant

FIRST_NAMES = ["Maria", "James", "Aisha", "Tom", "Sofia", "Daniel", "Grace", "Liam", "Chloe", "Noah", "Emma",
               "Lucas", "Hannah", "Omar", "Julia", "Ben", "Priya", "Felix", "Nina", "Marco"]
LAST_NAMES = ["Lopez", "Carter", "Khan", "Becker", "Rossi", "Nguyen", "Miller", "Schmidt", "Brown", "Costa",
              "Walsh", "Novak", "Singh", "Weber", "Moreau"]

SALON_QUESTIONS = [
    ("Hi, are you open on Monday?", "We're closed on Mondays. We're open Tuesday to Friday from 9 to 6, Thursdays until 8, and Saturdays 9 to 3."),
    ("How much is a colour?", "A full colour is $120 and takes about an hour and a half."),
    ("Do you do blow dries for weddings?", "We do! A blow dry is $35 and takes 30 minutes. For a wedding party I'd suggest booking early."),
    ("Is there parking near you?", "I don't have parking details, but I've noted your question and the team can tell you when you come in."),
]
PIZZERIA_QUESTIONS = [
    ("Do you deliver to Kreuzberg?", "We deliver nearby; delivery adds about 30 minutes to the 20-minute preparation time."),
    ("Are you open on Sunday evening?", "Yes, on Sundays we're open from 12 to 10 pm."),
    ("Do you have anything vegan?", "I can't confirm vegan options from the menu; I've noted your question for the team."),
]
CALLBACK_REASONS_SALON = [
    "Wants to talk to a stylist about a colour correction before booking.",
    "Asked about a group booking for a bridal party of five.",
    "Has a complaint about last week's haircut and wants the manager to call back.",
    "Wants to know if her usual stylist Anna is back from holiday.",
]
CALLBACK_REASONS_PIZZERIA = [
    "Catering order for 30 people next Saturday; wants to discuss prices.",
    "Order #{} arrived cold, would like someone to call back.",
    "Asked whether the restaurant can host a birthday dinner for 12.",
]


@dataclass
class SeedResult:
    calls: int = 0
    bookings: int = 0
    orders: int = 0
    callbacks: int = 0
    sms: int = 0


class _Script:
    """Builds one call's transcript and tool calls with running offsets."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.offset = 0.0
        self.turns: list[dict] = []
        self.tools: list[dict] = []
        self.latency: list[dict] = []

    def say(self, role: str, text: str, *, interrupted: bool = False) -> None:
        self.offset += self.rng.uniform(1.2, 3.5) if self.turns else 0.8
        self.turns.append({"role": role, "text": text, "offset": round(self.offset, 2), "interrupted": interrupted})
        self.offset += len(text) / 11 + self.rng.uniform(0.5, 2.5)  # speaking, and pausing to think
        if role == "assistant":
            self.latency.append({
                "turn": len(self.turns),
                "llm_ttft_ms": self.rng.randint(280, 720),
                "tts_ttfb_ms": self.rng.randint(140, 380),
                "end_of_utterance_ms": self.rng.randint(350, 900),
            })

    def tool(self, name: str, arguments: dict, result: dict, *, is_error: bool = False) -> None:
        self.offset += 0.4
        self.tools.append({"name": name, "arguments": arguments, "result": result, "is_error": is_error,
                           "offset": round(self.offset, 2), "duration_ms": self.rng.randint(35, 240)})


def _local(day: dt.date, clock_time: dt.time, tz) -> dt.datetime:
    return dt.datetime.combine(day, clock_time, tzinfo=tz)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _caller(rng: random.Random) -> str:
    return f"+1555{rng.randint(100, 199):03d}{rng.randint(0, 9999):04d}"


def _free_lane(service: Service, start: dt.datetime, blocked_until: dt.datetime) -> int | None:
    taken = set(
        Booking.objects.filter(service=service, status=Booking.Status.CONFIRMED, start__lt=blocked_until,
                               blocked_until__gt=start).values_list("lane", flat=True)
    )
    return next((lane for lane in range(service.capacity) if lane not in taken), None)


def _booking_slot(rng: random.Random, service: Service, after: dt.datetime, tz) -> tuple[dt.datetime, int] | None:
    """A free start on the 15-minute grid inside opening hours, within a week after `after`."""
    hours_by_day: dict[int, list[OpeningHours]] = {}
    for hours in OpeningHours.objects.all():
        hours_by_day.setdefault(hours.weekday, []).append(hours)
    for _ in range(40):
        day = (after.astimezone(tz) + dt.timedelta(days=rng.randint(0, 7))).date()
        ranges = hours_by_day.get(day.weekday())
        if not ranges:
            continue
        opening = rng.choice(ranges)
        open_minutes = opening.opens.hour * 60 + opening.opens.minute
        close_minutes = opening.closes.hour * 60 + opening.closes.minute - service.duration_minutes
        if close_minutes < open_minutes:
            continue
        minute = open_minutes + 15 * rng.randint(0, (close_minutes - open_minutes) // 15)
        start = _local(day, dt.time(minute // 60, minute % 60), tz)
        if start <= after + dt.timedelta(hours=2):
            continue
        end = start + dt.timedelta(minutes=service.duration_minutes)
        lane = _free_lane(service, start, end + dt.timedelta(minutes=service.buffer_minutes))
        if lane is not None:
            return start, lane
    return None


def _spoken(moment: dt.datetime) -> str:
    return f"{moment:%A} at {moment:%-I:%M %p}".replace(":00 ", " ")


def _salon_call(rng, script: _Script, *, kind: str, greeting: str, started: dt.datetime, tz, state: dict):
    caller_name = _name(rng)
    script.say("assistant", greeting)
    if kind == "booked":
        service = rng.choice(state["services"])
        slot = _booking_slot(rng, service, started, tz)
        if slot is None:
            kind = "answered"
        else:
            start, lane = slot
            local = start.astimezone(tz)
            script.say("user", rng.choice([
                f"Hi, I'd like to book a {service.name.lower()} for {local:%A}, please.",
                f"Hello! Do you have anything for a {service.name.lower()} on {local:%A}?",
                f"Hi there, can I get a {service.name.lower()} sometime {local:%A}?",
            ]))
            script.tool("check_availability", {"service": service.name, "date": local.date().isoformat()},
                        {"ok": True, "result": {"date": local.date().isoformat(), "available": True,
                                                "suggestions": [start.isoformat()]}})
            script.say("assistant", f"Yes, I can offer {_spoken(local)}. Would that work for you?")
            script.say("user", "Perfect, let's do that.")
            script.say("assistant", "Lovely. Can I have your name, please?")
            script.say("user", f"It's {caller_name}.")
            script.say("assistant", "Thanks! And is the number you're calling from the best one for a text confirmation?")
            script.say("user", rng.choice(["Yes, that's my mobile.", "Yep, that's fine.", "Yes, please text me there."]))
            script.tool("create_booking", {"service": service.name, "start": local.replace(tzinfo=None).isoformat(timespec="minutes"),
                                           "customer_name": caller_name, "customer_phone": state["caller"]},
                        {"ok": True, "result": {"start": start.isoformat()}})
            script.say("assistant", f"You're booked for a {service.name.lower()} on {_spoken(local)}, {caller_name.split()[0]}. "
                                    "You'll get a text to confirm. Anything else I can help with?")
            script.say("user", "No, that's everything. Thank you!")
            script.say("assistant", "Thanks for calling Bella Hair Studio. See you soon, bye!")
            script.tool("end_call", {"reason": "booking made", "outcome": "booked"}, {"ok": True, "result": {"action": "hangup"}})
            state["booking"] = {"service": service, "start": start, "lane": lane, "customer_name": caller_name}
            return kind
    if kind == "callback":
        reason = rng.choice(CALLBACK_REASONS_SALON)
        script.say("user", "Hi, could I speak to someone about my hair? It's a bit complicated.")
        script.say("assistant", "Of course. Can you tell me briefly what it's about, so the right person calls you?")
        script.say("user", reason.replace("Wants", "I'd like").replace("Asked", "I'm asking").replace("Has", "I have"))
        script.tool("transfer_to_human", {"reason": reason}, {"ok": True, "result": {"action": "callback"}})
        script.say("assistant", "Nobody can take the call right now, so I've asked the team to call you back within two hours "
                                "during opening hours. Is this number the best one to reach you?")
        script.say("user", "Yes, this one is fine. Thanks.")
        script.say("assistant", "Great, they'll be in touch. Have a lovely day!")
        script.tool("end_call", {"reason": "callback queued", "outcome": "callback"}, {"ok": True, "result": {"action": "hangup"}})
        state["callback"] = {"reason": reason, "caller_name": caller_name}
        return kind
    if kind == "transferred":
        script.say("user", "Hi, I'm running ten minutes late for my appointment, can I talk to someone at the desk?")
        script.tool("transfer_to_human", {"reason": "caller running late, wants the front desk"},
                    {"ok": True, "result": {"action": "transfer", "transfer_to": "tel:+15550100900"}})
        script.say("assistant", "Sure, I'll put you through to the front desk now.")
        return kind
    question, answer = rng.choice(SALON_QUESTIONS)
    script.say("user", question)
    script.say("assistant", answer + " Is there anything else?")
    if "noted" in answer:
        script.tool("log_note", {"note": f"Caller asked: {question}"}, {"ok": True, "result": {}})
        state["note"] = f"Caller asked: {question}"
    script.say("user", "No, that's it, thanks.")
    script.say("assistant", "Thanks for calling, bye!")
    script.tool("end_call", {"reason": "question answered", "outcome": "answered"}, {"ok": True, "result": {"action": "hangup"}})
    return "answered"


def _pizzeria_call(rng, script: _Script, *, kind: str, greeting: str, started: dt.datetime, tz, state: dict):
    caller_name = _name(rng)
    script.say("assistant", greeting)
    if kind == "ordered":
        items = rng.sample(state["menu"], k=rng.randint(1, 3))
        lines = [(item, rng.choice([1, 1, 2, 2, 3])) for item in items]
        delivery = rng.random() < 0.4
        spoken = " and ".join(f"{quantity} {item.name}" for item, quantity in lines)
        script.say("user", f"Hi, I'd like {spoken}, please" + (" for delivery." if delivery else " for pickup."))
        total = sum((item.price * quantity for item, quantity in lines), Decimal("0"))
        script.say("assistant", f"That's {spoken}, for {'delivery' if delivery else 'pickup'}. Can I have your name?")
        script.say("user", f"{caller_name}.")
        script.tool("create_order", {"items": [{"name": item.name, "quantity": quantity} for item, quantity in lines],
                                     "customer_name": caller_name, "customer_phone": state["caller"],
                                     "fulfillment": "delivery" if delivery else "pickup"},
                    {"ok": True, "result": {"total": str(total), "currency": "EUR"}})
        minutes = state["prep"] + (state["delivery"] if delivery else 0)
        script.say("assistant", f"Your order is in: the total is {total} euros and it will be ready in about {minutes} minutes. Grazie!")
        script.say("user", "Great, thanks!")
        script.tool("end_call", {"reason": "order placed", "outcome": "ordered"}, {"ok": True, "result": {"action": "hangup"}})
        state["order"] = {"lines": lines, "total": total, "delivery": delivery, "customer_name": caller_name,
                          "ready_minutes": minutes}
        return kind
    if kind == "callback":
        reason = rng.choice(CALLBACK_REASONS_PIZZERIA).format(rng.randint(10, 99))
        script.say("user", "Hello, can I talk to the manager?")
        script.say("assistant", "Of course. What is it about?")
        script.say("user", reason)
        script.tool("transfer_to_human", {"reason": reason}, {"ok": True, "result": {"action": "callback"}})
        script.say("assistant", "The manager isn't available right now, so I've asked them to call you back. Is this number OK?")
        script.say("user", "Yes. Thank you.")
        script.tool("end_call", {"reason": "callback queued", "outcome": "callback"}, {"ok": True, "result": {"action": "hangup"}})
        state["callback"] = {"reason": reason, "caller_name": caller_name}
        return kind
    question, answer = rng.choice(PIZZERIA_QUESTIONS)
    script.say("user", question)
    script.say("assistant", answer)
    script.say("user", "Okay, thanks, bye.")
    script.tool("end_call", {"reason": "question answered", "outcome": "answered"}, {"ok": True, "result": {"action": "hangup"}})
    return "answered"


def _call_times(rng: random.Random, *, now: dt.datetime, tz, days: int) -> list[dt.datetime]:
    times = []
    today = now.astimezone(tz).date()
    for offset in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=offset)
        busy = 1.5 if day.weekday() in (3, 4, 5) else 1.0
        count = max(0, int(rng.gauss(4 * busy, 1.6)))
        for _ in range(count):
            minute = rng.randint(8 * 60 + 30, 20 * 60)
            moment = _local(day, dt.time(minute // 60, minute % 60, rng.randint(0, 59)), tz)
            if moment < now - dt.timedelta(minutes=3):
                times.append(moment)
    return sorted(times)


OUTCOME_WEIGHTS = {
    "salon": [("booked", 46), ("answered", 26), ("callback", 11), ("transferred", 7), ("abandoned", 4), ("other", 6)],
    "pizzeria": [("ordered", 55), ("answered", 22), ("callback", 8), ("abandoned", 6), ("other", 9)],
}


def demo_activity_seed(*, tenant: Tenant, now: dt.datetime, days: int = 30, seed: int = 7) -> SeedResult:
    """Fill one demo tenant's schema with `days` days of activity up to `now`."""
    rng = random.Random(f"{tenant.schema_name}-{seed}")
    tz = tenant.tzinfo
    result = SeedResult()
    with schema_context(tenant.schema_name), transaction.atomic():
        agent = AgentSettings.objects.first()
        called = tenant.phone_numbers.values_list("number", flat=True).first() or ""
        services = list(Service.objects.filter(active=True))
        menu = list(MenuItem.objects.filter(available=True))
        policy = OrderingPolicy.objects.first()
        weights = OUTCOME_WEIGHTS["salon" if services else "pizzeria"]
        times = _call_times(rng, now=now, tz=tz, days=days)
        for index, started in enumerate(times):
            kind = rng.choices([k for k, _ in weights], weights=[w for _, w in weights])[0]
            if kind == "booked" and not services:
                kind = "answered"
            caller = _caller(rng)
            state = {"caller": caller, "services": services, "menu": menu,
                     "prep": policy.prep_minutes if policy else 20, "delivery": policy.delivery_minutes if policy else 30}
            script = _Script(rng)
            is_last = index == len(times) - 1
            if kind == "abandoned":
                outcome = "abandoned"
                script.say("assistant", agent.greeting)
            elif kind == "other":
                script.say("assistant", agent.greeting)
                script.say("user", rng.choice(["Sorry, wrong number.", "Oh, I meant to call the dentist, sorry!"]))
                script.say("assistant", "No problem at all, have a nice day!")
                script.tool("end_call", {"reason": "wrong number", "outcome": "other"}, {"ok": True, "result": {"action": "hangup"}})
                outcome = "other"
            elif services:
                outcome = _salon_call(rng, script, kind=kind, greeting=agent.greeting, started=started, tz=tz, state=state)
            else:
                outcome = _pizzeria_call(rng, script, kind=kind, greeting=agent.greeting, started=started, tz=tz, state=state)
            duration = Decimal(str(round(script.offset + rng.uniform(2, 6), 2)))
            ended = started + dt.timedelta(seconds=float(duration))
            in_progress = is_last and ended > now
            prompt_tokens = sum(1400 + 60 * i for i, turn in enumerate(script.turns) if turn["role"] == "assistant")
            call = Call.objects.create(
                caller_number=caller, called_number=called, room=f"call-{started:%Y%m%d%H%M%S}-{index}",
                sip_call_id=f"SC{rng.getrandbits(48):012x}", status=Call.Status.ACTIVE if in_progress else Call.Status.ENDED,
                started_at=started, ended_at=None if in_progress else ended,
                duration_seconds=None if in_progress else duration, max_call_seconds=agent.max_call_seconds,
                outcome="" if in_progress else outcome,
                end_reason="" if in_progress else {"abandoned": "no log received (worker lost the call)",
                                                   "transferred": "transferred to the front desk"}.get(outcome, "caller said goodbye"),
                transferred_to="tel:+15550100900" if outcome == "transferred" else "",
                llm_prompt_tokens=0 if outcome == "abandoned" else prompt_tokens,
                llm_completion_tokens=0 if outcome == "abandoned" else sum(len(t["text"]) // 4 for t in script.turns if t["role"] == "assistant"),
                stt_seconds=Decimal(str(round(float(duration) * 0.45, 2))),
                tts_characters=sum(len(t["text"]) for t in script.turns if t["role"] == "assistant"),
                metrics={"latency": script.latency} if outcome != "abandoned" else {},
                avg_llm_ttft_ms=_avg(script.latency, "llm_ttft_ms") if outcome != "abandoned" else None,
                avg_tts_ttfb_ms=_avg(script.latency, "tts_ttfb_ms") if outcome != "abandoned" else None,
                avg_end_of_utterance_ms=_avg(script.latency, "end_of_utterance_ms") if outcome != "abandoned" else None,
                log_received_at=None if in_progress or outcome == "abandoned" else ended,
                log_stored_at=None if in_progress or outcome == "abandoned" else ended + dt.timedelta(seconds=1),
            )
            result.calls += 1
            if outcome != "abandoned" and not in_progress:
                TranscriptTurn.objects.bulk_create([
                    TranscriptTurn(call=call, sequence=i, role=t["role"], text=t["text"], offset_seconds=Decimal(str(t["offset"])),
                                   language="de" if tenant.schema_name == "pizzeria" and i == 0 else "en",
                                   interrupted=t["interrupted"])
                    for i, t in enumerate(script.turns)
                ])
                ToolInvocation.objects.bulk_create([
                    ToolInvocation(call=call, sequence=i, name=t["name"], arguments=t["arguments"], result=t["result"],
                                   is_error=t["is_error"], offset_seconds=Decimal(str(t["offset"])), duration_ms=t["duration_ms"])
                    for i, t in enumerate(script.tools)
                ])
            if "note" in state:
                CallNote.objects.create(call=call, text=state["note"])
            created_at = started + dt.timedelta(seconds=float(duration) * 0.7)
            if "booking" in state and outcome == "booked":
                info = state["booking"]
                service = info["service"]
                end = info["start"] + dt.timedelta(minutes=service.duration_minutes)
                booking = Booking.objects.create(
                    service=service, start=info["start"], end=end,
                    blocked_until=end + dt.timedelta(minutes=service.buffer_minutes), lane=info["lane"],
                    customer_name=info["customer_name"], customer_phone=caller, call=call,
                    status=Booking.Status.CANCELLED if rng.random() < 0.06 else Booking.Status.CONFIRMED,
                )
                Booking.objects.filter(pk=booking.pk).update(created=created_at)
                result.bookings += 1
                if agent.sms_confirmations:
                    local = info["start"].astimezone(tz)
                    sms = SmsMessage.objects.create(
                        to_number=caller, from_number=called, booking=booking, call=call, attempts=1,
                        body=f"{agent.business_name}: your {service.name.lower()} is booked for {local:%a %d %b at %H:%M}. "
                             "Reply or call us to change it.",
                        status=SmsMessage.Status.FAILED if rng.random() < 0.05 else SmsMessage.Status.SENT,
                        provider_id=f"SM{rng.getrandbits(64):016x}",
                    )
                    if sms.status == SmsMessage.Status.FAILED:
                        SmsMessage.objects.filter(pk=sms.pk).update(error="30006: landline or unreachable carrier", provider_id="")
                    SmsMessage.objects.filter(pk=sms.pk).update(created=created_at, updated=created_at)
                    result.sms += 1
                    reminded_at = info["start"] - dt.timedelta(hours=24)
                    if booking.status == Booking.Status.CONFIRMED and created_at < reminded_at < now:
                        # What bookings.tasks.booking_reminders_send would have sent the day before.
                        reminder = SmsMessage.objects.create(
                            kind=SmsMessage.Kind.BOOKING_REMINDER, to_number=caller, from_number=called, booking=booking,
                            call=call, attempts=1, status=SmsMessage.Status.SENT, provider_id=f"SM{rng.getrandbits(64):016x}",
                            body=f"{agent.business_name}: a reminder of your {service.name} on {local:%a} {local.day} "
                                 f"{local:%b} at {local:%H:%M}. See you then! If you can't make it, please call us.",
                        )
                        SmsMessage.objects.filter(pk=reminder.pk).update(created=reminded_at, updated=reminded_at)
                        result.sms += 1
            if "order" in state and outcome == "ordered":
                info = state["order"]
                age = now - created_at
                if age > dt.timedelta(hours=3):
                    status = Order.Status.CANCELLED if rng.random() < 0.04 else Order.Status.DONE
                elif age > dt.timedelta(minutes=info["ready_minutes"]):
                    status = Order.Status.READY
                elif age > dt.timedelta(minutes=5):
                    status = Order.Status.PREPARING
                else:
                    status = Order.Status.NEW
                order = Order.objects.create(
                    status=status, fulfillment="delivery" if info["delivery"] else "pickup",
                    customer_name=info["customer_name"], customer_phone=caller,
                    delivery_address=f"{rng.choice(['Oranienstr.', 'Wiener Str.', 'Skalitzer Str.', 'Reichenberger Str.'])} {rng.randint(1, 120)}, Berlin"
                    if info["delivery"] else "",
                    total=info["total"], currency="EUR", call=call,
                    estimated_ready_at=created_at + dt.timedelta(minutes=info["ready_minutes"]),
                )
                OrderLine.objects.bulk_create([
                    OrderLine(order=order, menu_item=item, name=item.name, quantity=quantity, unit_price=item.price,
                              line_total=item.price * quantity)
                    for item, quantity in info["lines"]
                ])
                Order.objects.filter(pk=order.pk).update(created=created_at, updated=created_at)
                result.orders += 1
            if "callback" in state and outcome == "callback":
                info = state["callback"]
                # Older requests have mostly been handled; the last few days' are still in the queue.
                done = now - created_at > dt.timedelta(days=1, hours=12) or rng.random() < 0.2
                callback = CallbackRequest.objects.create(
                    call=call, caller_number=caller, caller_name=info["caller_name"], reason=info["reason"],
                    status=CallbackRequest.Status.DONE if done else CallbackRequest.Status.OPEN,
                    handled_by=rng.choice(["owner@salon.example" if services else "owner@pizzeria.example", "Anna", "Marco"]) if done else "",
                    done_at=min(created_at + dt.timedelta(hours=rng.uniform(0.5, 20)), now) if done else None,
                )
                CallbackRequest.objects.filter(pk=callback.pk).update(created=created_at)
                result.callbacks += 1
        if services:
            result.bookings += _other_channel_bookings(rng, services=services, now=now, tz=tz, days=days)
    connection.set_schema_to_public()
    return result


def _other_channel_bookings(rng: random.Random, *, services: list[Service], now: dt.datetime, tz, days: int) -> int:
    """Appointments made in person or online (no call): a salon's day is not only phone bookings,
    and the day view should look like a real day."""
    hours_by_day: dict[int, list[OpeningHours]] = {}
    for hours in OpeningHours.objects.all():
        hours_by_day.setdefault(hours.weekday, []).append(hours)
    today = now.astimezone(tz).date()
    created = 0
    for offset in range(-days, 8):
        day = today + dt.timedelta(days=offset)
        ranges = hours_by_day.get(day.weekday())
        if not ranges:
            continue
        for _ in range(rng.randint(3, 7)):
            service = rng.choice(services)
            opening = rng.choice(ranges)
            first = opening.opens.hour * 60 + opening.opens.minute
            last = opening.closes.hour * 60 + opening.closes.minute - service.duration_minutes
            if last < first:
                continue
            minute = first + 15 * rng.randint(0, (last - first) // 15)
            start = _local(day, dt.time(minute // 60, minute % 60), tz)
            end = start + dt.timedelta(minutes=service.duration_minutes)
            lane = _free_lane(service, start, end + dt.timedelta(minutes=service.buffer_minutes))
            if lane is None:
                continue
            booking = Booking.objects.create(
                service=service, start=start, end=end, blocked_until=end + dt.timedelta(minutes=service.buffer_minutes),
                lane=lane, customer_name=_name(rng), customer_phone=_caller(rng),
                notes=rng.choice(["", "", "Booked at the desk.", "Regular customer.", "Booked online."]),
            )
            booked_at = min(start - dt.timedelta(days=rng.uniform(1, 14)), now)
            Booking.objects.filter(pk=booking.pk).update(created=booked_at)
            created += 1
    return created


def _avg(entries: list[dict], key: str) -> int | None:
    values = [entry[key] for entry in entries if entry.get(key) is not None]
    return round(sum(values) / len(values)) if values else None


def demo_activity_clear(*, tenant: Tenant) -> None:
    with schema_context(tenant.schema_name), transaction.atomic():
        SmsMessage.objects.all().delete()
        CallbackRequest.objects.all().delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        Booking.objects.all().delete()
        Call.objects.all().delete()
