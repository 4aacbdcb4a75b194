"""Reads behind the admin dashboards: the tenant owner's home page ("how is my phone line doing"),
the bookings day view, the call page, and the operator's per-tenant usage for a month.

Tenant reads expect the tenant's schema to be active (the tenant admin runs on the tenant's domain);
`tenant_usage_for_month` visits every tenant schema itself. Days are the tenant's local days: a call
at 23:30 in New York belongs to that day, not to the next UTC one.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django_tenants.utils import get_public_schema_name, tenant_context

from bookings.models import Booking, Service
from calls.models import Call, CallbackRequest
from calls.usage import usage_totals
from messaging.models import SmsMessage
from orders.models import Order
from tenants.agent.selectors import business_capabilities
from tenants.hours.models import Closure, OpeningHours
from tenants.models import IngestionDeadLetter, Tenant


def local_day_bounds(day: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as aware datetimes (23 or 25 hours on DST days)."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def calls_with_results() -> QuerySet[Call]:
    """Calls annotated with whether they produced a booking or an order (for lists)."""
    return Call.objects.annotate(
        made_booking=Exists(Booking.objects.filter(call=OuterRef("pk"))),
        made_order=Exists(Order.objects.filter(call=OuterRef("pk"))),
    )


@dataclass
class DayCount:
    day: dt.date
    count: int


@dataclass
class OutcomeCount:
    outcome: str
    label: str
    count: int


@dataclass
class TenantHomeSummary:
    today: dt.date
    calls_today: int
    calls_answered_today: int
    bookings_today: int
    bookings_made_today: int
    orders_today: int
    orders_open: int
    open_callbacks: int
    oldest_open_callback: dt.datetime | None
    average_call_seconds: Decimal | None
    calls_last_period: int
    calls_per_day: list[DayCount]
    outcomes: list[OutcomeCount]
    recent_calls: list[Call]
    takes_bookings: bool
    takes_orders: bool
    sms_failed_recently: int = 0
    period_days: int = 30
    extra: dict = field(default_factory=dict)


def tenant_home_summary(*, now: dt.datetime, tz: zoneinfo.ZoneInfo, days: int = 30,
                        recent: int = 8) -> TenantHomeSummary:
    today = now.astimezone(tz).date()
    today_start, today_end = local_day_bounds(today, tz)
    period_start, _ = local_day_bounds(today - dt.timedelta(days=days - 1), tz)

    # Test calls and what they made are left out (core/trial_calls.py): the owner trying their agent.
    calls_today = Call.objects.filter(started_at__gte=today_start, started_at__lt=today_end, is_test=False)
    period_calls = Call.objects.filter(started_at__gte=period_start, started_at__lt=today_end, is_test=False)

    per_day = dict(
        period_calls.annotate(day=TruncDate("started_at", tzinfo=tz)).values("day")
        .annotate(count=Count("id")).values_list("day", "count")
    )
    calls_per_day = [
        DayCount(day=day, count=per_day.get(day, 0))
        for day in (today - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1))
    ]

    outcome_labels = dict(Call.Outcome.choices)
    outcome_rows = period_calls.values("outcome", "status").annotate(count=Count("id"))
    outcome_totals: dict[str, int] = {}
    for row in outcome_rows:
        if row["outcome"]:
            key = row["outcome"]
        elif row["status"] == Call.Status.ACTIVE:
            key = "in_progress"
        else:
            key = "none"
        outcome_totals[key] = outcome_totals.get(key, 0) + row["count"]
    labels = {**outcome_labels, "in_progress": "In progress", "none": "No outcome"}
    outcomes = sorted(
        (OutcomeCount(outcome=key, label=labels.get(key, key), count=count) for key, count in outcome_totals.items()),
        key=lambda item: (-item.count, item.label),
    )

    average = period_calls.filter(duration_seconds__isnull=False).aggregate(avg=Avg("duration_seconds"))["avg"]
    oldest_callback = (
        CallbackRequest.objects.filter(status=CallbackRequest.Status.OPEN).exclude(call__is_test=True).order_by("created")
        .values_list("created", flat=True).first()
    )
    capabilities = business_capabilities()
    return TenantHomeSummary(
        today=today,
        calls_today=calls_today.count(),
        calls_answered_today=calls_today.exclude(outcome__in=["", Call.Outcome.ABANDONED]).count(),
        bookings_today=Booking.objects.filter(
            status=Booking.Status.CONFIRMED, start__gte=today_start, start__lt=today_end
        ).exclude(call__is_test=True).count(),
        bookings_made_today=Booking.objects.filter(
            created__gte=today_start, created__lt=today_end, call__isnull=False
        ).exclude(call__is_test=True).count(),
        orders_today=Order.objects.filter(created__gte=today_start, created__lt=today_end).exclude(call__is_test=True).count(),
        orders_open=Order.objects.filter(
            status__in=[Order.Status.NEW, Order.Status.PREPARING, Order.Status.READY]
        ).count(),
        open_callbacks=CallbackRequest.objects.filter(status=CallbackRequest.Status.OPEN).exclude(call__is_test=True).count(),
        oldest_open_callback=oldest_callback,
        average_call_seconds=Decimal(average).quantize(Decimal("1")) if average is not None else None,
        calls_last_period=sum(item.count for item in calls_per_day),
        calls_per_day=calls_per_day,
        outcomes=outcomes,
        recent_calls=list(calls_with_results().select_related("summary").order_by("-started_at")[:recent]),
        takes_bookings=capabilities.takes_bookings,
        takes_orders=capabilities.takes_orders,
        sms_failed_recently=SmsMessage.objects.filter(
            status=SmsMessage.Status.FAILED, created__gte=period_start
        ).count(),
        period_days=days,
    )


# --- the call page -----------------------------------------------------------------------------

@dataclass
class LatencyRow:
    turn: int | None
    llm_ttft_ms: int | None
    tts_ttfb_ms: int | None
    end_of_utterance_ms: int | None
    # End of the caller's speech → the agent's first audio (logs from before it was recorded: None).
    e2e_latency_ms: int | None = None


@dataclass
class CallDetail:
    call: Call
    turns: list
    tool_invocations: list
    notes: list
    bookings: list
    orders: list
    callback_requests: list
    sms_messages: list
    latency: list[LatencyRow]
    total_tokens: int
    timeline: list[tuple[str, object]] = field(default_factory=list)
    # Bookings made earlier that this call moved or cancelled (BookingEvents it recorded).
    booking_changes: list = field(default_factory=list)
    # Each try at reaching a person: to whom, how long it rang, how it ended (TransferAttempt).
    transfer_attempts: list = field(default_factory=list)


def call_timeline(*, turns: list, tool_invocations: list) -> list[tuple[str, object]]:
    """Turns and tool calls as one conversation: ordered by their offset into the call when both
    carry one (a turn without one keeps its place after the previous turn); tool calls without an
    offset go at the end, in their own order."""
    timeline: list[tuple[float, int, int, str, object]] = []
    last_offset = 0.0
    for turn in turns:
        if turn.offset_seconds is not None:
            last_offset = float(turn.offset_seconds)
        timeline.append((last_offset, 0, turn.sequence, "turn", turn))
    for tool in tool_invocations:
        offset = float(tool.offset_seconds) if tool.offset_seconds is not None else float("inf")
        timeline.append((offset, 1, tool.sequence, "tool", tool))
    timeline.sort(key=lambda item: item[:3])
    return [(kind, item) for _, _, _, kind, item in timeline]


def call_detail(*, call: Call) -> CallDetail:
    latency_entries = (call.metrics or {}).get("latency") or []
    latency = [
        LatencyRow(
            turn=entry.get("turn"), llm_ttft_ms=entry.get("llm_ttft_ms"),
            tts_ttfb_ms=entry.get("tts_ttfb_ms"), end_of_utterance_ms=entry.get("end_of_utterance_ms"),
            e2e_latency_ms=entry.get("e2e_latency_ms"),
        )
        for entry in latency_entries if isinstance(entry, dict)
    ]
    turns = list(call.turns.order_by("sequence"))
    tool_invocations = list(call.tool_invocations.order_by("sequence"))
    return CallDetail(
        call=call,
        turns=turns,
        tool_invocations=tool_invocations,
        timeline=call_timeline(turns=turns, tool_invocations=tool_invocations),
        notes=list(call.notes.order_by("created")),
        bookings=list(call.bookings.select_related("service").order_by("start")),
        orders=list(call.orders.prefetch_related("lines").order_by("created")),
        callback_requests=list(call.callback_requests.order_by("created")),
        sms_messages=list(SmsMessage.objects.filter(
            Q(call=call) | Q(booking__call=call) | Q(order__call=call)
        ).distinct().order_by("created")),
        latency=latency,
        total_tokens=call.llm_prompt_tokens + call.llm_completion_tokens,
        booking_changes=list(call.booking_events.select_related("booking__service").order_by("created", "pk")),
        transfer_attempts=list(call.transfer_attempts.order_by("sequence")),
    )


# --- the bookings day view ---------------------------------------------------------------------

@dataclass
class DayViewBooking:
    booking: Booking
    top_percent: float
    height_percent: float
    left_percent: float
    width_percent: float


@dataclass
class DayViewColumn:
    service: Service
    bookings: list[DayViewBooking]


@dataclass
class DayView:
    day: dt.date
    closed_reason: str | None
    opening_ranges: list[tuple[dt.time, dt.time]]
    first_hour: int
    last_hour: int
    hours: list[tuple[int, float]]
    open_bands: list[tuple[float, float]]
    columns: list[DayViewColumn]
    hour_height_px: int
    cancelled: list[Booking]
    total: int

    @property
    def height_px(self) -> int:
        return (self.last_hour - self.first_hour) * self.hour_height_px

    @property
    def hour_count(self) -> int:
        return self.last_hour - self.first_hour


DAY_VIEW_HOUR_PX = 64


def bookings_day_view(*, day: dt.date, tz: zoneinfo.ZoneInfo) -> DayView:
    """One column per service; each booking a block placed by its local start and end, side by side
    with the other bookings in its lane (capacity 2 → two half-width lanes)."""
    start, end = local_day_bounds(day, tz)
    bookings = list(
        Booking.objects.filter(start__lt=end, end__gt=start).select_related("service", "call").order_by("start")
    )
    ranges = [(hours.opens, hours.closes) for hours in OpeningHours.objects.filter(weekday=day.weekday())]
    closure = Closure.objects.filter(date=day).first()

    confirmed = [b for b in bookings if b.status == Booking.Status.CONFIRMED]
    local_times = [b.start.astimezone(tz).time() for b in confirmed] + [b.end.astimezone(tz).time() for b in confirmed]
    opening_times = [t for r in ranges for t in r]
    hours_seen = [t.hour for t in opening_times + local_times]
    first_hour = min([8, *hours_seen])
    last_hour = max([18, *[t.hour + (1 if t.minute or t.second else 0) for t in opening_times + local_times]])
    last_hour = min(last_hour, 24)
    span_minutes = (last_hour - first_hour) * 60

    def minutes_into_view(moment: dt.datetime) -> float:
        local = moment.astimezone(tz)
        if local.date() < day:
            return 0
        if local.date() > day:
            return span_minutes
        return max(0, min(span_minutes, local.hour * 60 + local.minute - first_hour * 60))

    def clamp(wall: dt.time) -> float:
        return max(0, min(span_minutes, wall.hour * 60 + wall.minute - first_hour * 60))

    services = list(Service.objects.filter(Q(active=True) | Q(bookings__in=confirmed)).distinct().order_by("name"))
    columns = []
    for service in services:
        lanes = max(service.capacity, 1 + max([b.lane for b in confirmed if b.service_id == service.pk], default=0))
        blocks = []
        for booking in confirmed:
            if booking.service_id != service.pk:
                continue
            top = minutes_into_view(booking.start)
            bottom = minutes_into_view(booking.end)
            blocks.append(DayViewBooking(
                booking=booking,
                top_percent=round(100 * top / span_minutes, 3),
                height_percent=round(100 * max(bottom - top, 10) / span_minutes, 3),
                left_percent=round(100 * booking.lane / lanes, 3),
                width_percent=round(100 / lanes, 3),
            ))
        columns.append(DayViewColumn(service=service, bookings=blocks))
    return DayView(
        day=day,
        closed_reason=(closure.reason or "Closed") if closure else None,
        opening_ranges=sorted(ranges),
        first_hour=first_hour,
        last_hour=last_hour,
        hours=[(hour, round(100 * (hour - first_hour) / (last_hour - first_hour), 3))
               for hour in range(first_hour, last_hour + 1)],
        open_bands=[] if closure else [
            (round(100 * clamp(opens) / span_minutes, 3), round(100 * (clamp(closes) - clamp(opens)) / span_minutes, 3))
            for opens, closes in sorted(ranges)
        ],
        columns=columns,
        hour_height_px=DAY_VIEW_HOUR_PX,
        cancelled=[b for b in bookings if b.status != Booking.Status.CONFIRMED],
        total=len(confirmed),
    )


# --- the operator ------------------------------------------------------------------------------

@dataclass
class TenantUsage:
    tenant: Tenant
    calls: int
    minutes: Decimal
    prompt_tokens: int
    completion_tokens: int
    stt_seconds: Decimal
    tts_characters: int
    bookings: int
    orders: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, first instant of next month) in UTC: the operator bills in UTC months."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    next_month = (start + dt.timedelta(days=32)).replace(day=1)
    return start, next_month


def tenant_usage_for_month(*, month: dt.date) -> list[TenantUsage]:
    """Calls, minutes and tokens (calls/usage.py) plus bookings and orders made, per tenant, for the
    UTC month containing `month`. Each tenant's data lives in its own schema, so this visits them
    one by one: a few small aggregate queries per tenant."""
    start, end = month_bounds(month)
    usage = []
    for tenant in Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("name"):
        with tenant_context(tenant):
            totals = usage_totals(since=start, until=end)
            bookings = Booking.objects.filter(created__gte=start, created__lt=end).exclude(call__is_test=True).count()
            orders = Order.objects.filter(created__gte=start, created__lt=end).exclude(call__is_test=True).count()
        usage.append(TenantUsage(
            tenant=tenant,
            calls=totals["calls"],
            minutes=totals["minutes"].quantize(Decimal("0.1")),
            prompt_tokens=totals["llm_prompt_tokens"],
            completion_tokens=totals["llm_completion_tokens"],
            stt_seconds=totals["stt_seconds"],
            tts_characters=totals["tts_characters"],
            bookings=bookings,
            orders=orders,
        ))
    return usage


@dataclass
class OperatorOverview:
    tenants: int
    dead_letters_waiting: int
    month: dt.date
    calls_this_month: int
    minutes_this_month: Decimal


def operator_overview(*, now: dt.datetime) -> OperatorOverview:
    month = now.astimezone(dt.UTC).date().replace(day=1)
    usage = tenant_usage_for_month(month=month)
    return OperatorOverview(
        tenants=len(usage),
        dead_letters_waiting=IngestionDeadLetter.objects.filter(replayed_at__isnull=True).count(),
        month=month,
        calls_this_month=sum(row.calls for row in usage),
        minutes_this_month=sum((row.minutes for row in usage), start=Decimal("0")),
    )


# --- the first day -----------------------------------------------------------------------------

@dataclass
class SetupStep:
    label: str
    done: bool
    detail: str
    url: str


def setup_checklist(*, tenant: Tenant, site_name: str) -> list[SetupStep]:
    """What a new business has to do before its phone line works for it, each with the page where it
    is done. The home page shows it until every step is done."""
    from django.urls import reverse

    from bookings.models import Service
    from notifications.models import NotificationSettings
    from orders.models import MenuItem
    from tenants.agent.models import AgentSettings
    from tenants.models import PhoneNumber
    from tenants.sip_sync import sip_sync_enabled

    def url(name: str) -> str:
        return reverse(f"{site_name}:{name}")

    agent = AgentSettings.objects.first() or AgentSettings()
    numbers = list(tenant.phone_numbers.all())
    live = [number for number in numbers if number.sip_status == PhoneNumber.SipStatus.LIVE]
    managed = sip_sync_enabled()
    if live:
        number_detail = f"{live[0].number} answers calls."
    elif not numbers:
        number_detail = "No number yet: your operator adds it."
    elif managed:
        number_detail = f"{numbers[0].number} is {numbers[0].get_sip_status_display()}" + (
            f": {numbers[0].sip_error}" if numbers[0].sip_error else ".")
    else:
        number_detail = f"{numbers[0].number}: your operator connects it to the phone network by hand."
    steps = [
        SetupStep("Phone number live", bool(live) or (bool(numbers) and not managed), number_detail,
                  url("calls_call_changelist")),
        SetupStep("Opening hours", OpeningHours.objects.exists(), "When callers can book, order or reach you.",
                  url("hours_openinghours_changelist")),
    ]
    if agent.takes_bookings:
        steps.append(SetupStep("Services", Service.objects.filter(active=True).exists(), "What callers can book.",
                               url("bookings_service_changelist")))
    if agent.takes_orders:
        steps.append(SetupStep("Menu", MenuItem.objects.filter(available=True).exists(), "What callers can order.",
                               url("orders_menuitem_changelist")))
    notification_settings = NotificationSettings.objects.first()
    steps += [
        SetupStep("Voice chosen", bool(agent.voice_id), "The voice your agent answers with.",
                  url("agent_agentsettings_changelist")),
        SetupStep("A test call made", Call.objects.exists(), "Call your number once and listen to your agent.",
                  url("calls_call_changelist")),
        SetupStep("Notifications set", bool(notification_settings and (notification_settings.emails or
                                                                      notification_settings.sms_numbers)),
                  "Who hears of callbacks, messages, bookings and orders.",
                  url("notifications_notificationsettings_changelist")),
    ]
    return steps
