"""Usage totals for the dashboard and the operator, from stored call logs."""
import datetime as dt
from decimal import Decimal

from django_tenants.utils import schema_context

from calls.log_storage import call_log_store, calls_close_abandoned
from calls.models import Call
from calls.services import call_start
from calls.usage import usage_totals, usage_totals_by_tenant

T0 = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def a_stored_call(*, started_at: dt.datetime, duration: str, prompt_tokens: int, stt_seconds: float) -> Call:
    call = call_start(called_number="+15550100001", caller_number="+15551234567", now=started_at)
    Call.objects.filter(pk=call.pk).update(status=Call.Status.ENDED, duration_seconds=Decimal(duration))
    call_log_store(call_id=str(call.pk), payload={
        "transcript": [{"role": "user", "text": "Hi", "offset_seconds": 1.0, "language": "en", "interrupted": False}],
        "tool_calls": [],
        "usage": {"llm_prompt_tokens": prompt_tokens, "llm_completion_tokens": 10, "stt_seconds": stt_seconds,
                  "tts_characters": 300},
        "latency": [{"turn": 1, "llm_ttft_ms": 300, "tts_ttfb_ms": 100, "end_of_utterance_ms": 500},
                    {"turn": 2, "llm_ttft_ms": 500, "tts_ttfb_ms": None, "end_of_utterance_ms": 700}],
    })
    call.refresh_from_db()
    return call


def test_it_adds_up_a_tenants_calls_in_the_period(salon, pizzeria):
    with schema_context("salon"):
        first = a_stored_call(started_at=T0, duration="90", prompt_tokens=1000, stt_seconds=80.5)
        a_stored_call(started_at=T0 + dt.timedelta(hours=1), duration="30", prompt_tokens=500, stt_seconds=20)
        a_stored_call(started_at=T0 - dt.timedelta(days=1), duration="600", prompt_tokens=9, stt_seconds=9)
        call_start(called_number="+15550100001", caller_number="", now=T0 + dt.timedelta(minutes=5))  # no log yet

        totals = usage_totals(since=T0, until=T0 + dt.timedelta(days=1))

    assert totals == {
        "calls": 3, "minutes": Decimal("2.00"), "llm_prompt_tokens": 1500, "llm_completion_tokens": 20,
        "llm_tokens": 1520, "stt_seconds": Decimal("100.50"), "tts_characters": 600,
    }
    assert (first.avg_llm_ttft_ms, first.avg_tts_ttfb_ms, first.avg_end_of_utterance_ms) == (400, 100, 600)


def test_it_gives_the_operator_every_tenants_totals(salon, pizzeria):
    with schema_context("pizzeria"):
        call_start(called_number="+493055500002", caller_number="", now=T0)

    rows = usage_totals_by_tenant(since=T0, until=T0 + dt.timedelta(days=1))

    by_slug = {row["tenant"].slug: row for row in rows}
    assert by_slug["pizzeria"]["calls"] == 1
    assert by_slug["salon"]["calls"] == 0


def test_it_closes_only_calls_long_past_their_maximum_length(salon):
    with schema_context("salon"):
        now = T0
        lost = call_start(called_number="+15550100001", caller_number="", now=now - dt.timedelta(minutes=20))
        running = call_start(called_number="+15550100001", caller_number="", now=now - dt.timedelta(minutes=2))
        # Past its maximum length but still inside the margin for a slow log.
        just_over = call_start(called_number="+15550100001", caller_number="", now=now - dt.timedelta(
            seconds=lost.max_call_seconds + 60))

        closed = calls_close_abandoned(now=now, margin_seconds=300)

        lost.refresh_from_db(), running.refresh_from_db(), just_over.refresh_from_db()
    assert closed == 1
    assert (lost.status, lost.outcome) == ("ended", "abandoned")
    assert lost.ended_at == lost.started_at + dt.timedelta(seconds=lost.max_call_seconds)
    assert lost.duration_seconds is None
    assert running.status == just_over.status == "active"
