"""End-of-call log ingestion: the voice worker's one log per call, stored without losing anything.

The flow, and why it is split:

1. `call_log_accept` runs inside `POST /internal/calls/<call_id>/log`. It validates the log (and
   refuses, before writing anything, what cannot be stored: an end time that cannot belong to the
   call, tool-call JSON nested absurdly deep; texts jsonb cannot hold are cleaned), writes the
   call's *metadata* (ended at, duration, outcome, end reason, transfer target, status) in the
   request itself — one small UPDATE, so the call is closed even if Redis is down — and hands the
   transcript, tool calls, usage and latency to Celery. A call has one log: once it is received,
   the same log again is recognised and a different one refused (409), never replaced. If the
   broker cannot take the task the endpoint answers 503 `ingestion_unavailable`: the worker keeps
   the log in its spool and sends it again, and the re-send finds the metadata already there.
2. `calls.log_storage.call_log_store` runs in the Celery worker, in the call's tenant schema (tenant-schemas-celery
   carries the schema in the task headers). It replaces the call's transcript and tool calls and
   writes the usage figures in ONE transaction, so a reader sees the whole log or none of it, and a
   log stored twice (spool re-send, Celery retry, duplicate delivery) still leaves exactly one copy.
   A log whose content hash matches the stored one is skipped without writing.
3. The task (calls/tasks.py) retries transient database errors with exponential backoff and, after
   the last retry, leaves the payload in `IngestionDeadLetter` (public schema, as ASCII JSON text,
   so it cannot fail on the data it keeps) for the operator, who replays it with
   `manage.py replay_dead_letters` or the admin action. Every retry is bounded.
4. `calls.log_storage.calls_close_abandoned` closes calls whose log never came (the worker died with the call).

The body size limit (CALL_LOG_MAX_BYTES → 413), the bound on the number of JSON values
(`CallLogView.max_json_values` → 413, counted before the body is parsed, so 2 MB of `[]` is never
built) and the refusal of a chunked body (411) are the API's, before any of this runs.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from django.db import transaction
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from calls.log_storage import (
    MAX_JSON_DEPTH,
    JsonTooDeep,
    call_log_digest,
    json_clean,
    log_card_numbers_mask,
    text_clean,
)
from calls.models import Call, TranscriptTurn, TransferAttempt
from calls.tasks import call_log_store as call_log_store_task
from core import clock
from core.errors import DomainError, invalid_request

logger = logging.getLogger(__name__)

# Everything the log may carry beyond the metadata is bounded: a real 10-minute call has a few
# hundred turns; anything far beyond that is a bug or an attack, and is refused with 413.
MAX_TURNS = 2000
MAX_TOOL_CALLS = 500
MAX_LATENCY_ENTRIES = 2000
MAX_TURN_CHARS = 20_000
# A call transfers once or twice (the caller, then the watchdog); more is a loop.
MAX_TRANSFER_ATTEMPTS = 20
# Offsets and durations are stored as DECIMAL(8, 2): anything above this does not fit.
MAX_SECONDS = 999_999
# The worker's clock and ours may disagree a little: an end this far before the call's start (ours)
# or after the log's arrival is moved to that bound; anything further cannot belong to the call.
CLOCK_SKEW = dt.timedelta(minutes=5)


# --- the log's shape ---------------------------------------------------------------------------
# Declared with pydantic rather than DRF serializers, on purpose: a 30-turn log has ~230 fields, and
# DRF's per-field machinery made validating one most of the request (bench/ingest.py measures it);
# pydantic-core does the same checks an order of magnitude faster. drf-spectacular documents them too.

def _clean_tool_json(value: Any) -> Any:
    try:
        return json_clean(value)
    except JsonTooDeep:
        raise PydanticCustomError("too_deep", "must not be nested more than {max_depth} levels deep.",
                                  {"max_depth": MAX_JSON_DEPTH}) from None


def _not_a_boolean(value: Any) -> Any:
    """JSON's `false` is not the number 0 (pydantic's lax mode reads it so; the schema says number)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "must be a number, not true or false.")
    return value


Text = Annotated[str, BeforeValidator(text_clean)]
ToolJson = Annotated[Any, BeforeValidator(_clean_tool_json)]
# The validator after the Field: written before it, pydantic leaves `ge`/`le` out of the JSON schema's
# `minimum`/`maximum` (the served schema then allowed negative numbers).
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False), BeforeValidator(_not_a_boolean)]
Count = Annotated[int, Field(ge=0, le=2_000_000_000), BeforeValidator(_not_a_boolean)]
# true or false only: pydantic's lax mode would also take 1, "yes" and "on", which the schema does not.
Flag = Annotated[bool, Field(strict=True)]


class _LogPart(BaseModel):
    # Unknown fields are ignored, so a newer worker can add one without its logs being refused — a
    # refused log is a lost transcript.
    model_config = ConfigDict(extra="ignore")


class TranscriptTurnIn(_LogPart):
    role: TranscriptTurn.Role
    text: Annotated[Text, Field(max_length=MAX_TURN_CHARS)]
    offset_seconds: Seconds | None = Field(None, description="Seconds from the start of the call.")
    language: Annotated[Text, Field(max_length=16)] = ""
    interrupted: Flag = False


class ToolCallIn(_LogPart):
    name: Annotated[Text, Field(max_length=64)]
    arguments: ToolJson = Field(default_factory=dict, description=f"Any JSON, at most {MAX_JSON_DEPTH} levels deep.")
    result: ToolJson = Field(default_factory=dict, description=f"Any JSON, at most {MAX_JSON_DEPTH} levels deep.")
    is_error: Flag = False
    offset_seconds: Seconds | None = None
    duration_ms: Count | None = None

    @field_validator("arguments", "result")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class UsageIn(_LogPart):
    llm_prompt_tokens: Count = 0
    llm_completion_tokens: Count = 0
    stt_seconds: Annotated[float, Field(ge=0, le=99_999_999, allow_inf_nan=False), BeforeValidator(_not_a_boolean)] = 0
    tts_characters: Count = 0


class LatencyIn(_LogPart):
    turn: Count | None = None
    llm_ttft_ms: Count | None = None
    tts_ttfb_ms: Count | None = None
    end_of_utterance_ms: Count | None = None
    e2e_latency_ms: Count | None = None
    transcription_delay_ms: Count | None = None


class TransferAttemptIn(_LogPart):
    target: Annotated[Text, Field(max_length=200)]
    kind: Literal["cold", "warm"] = "cold"
    offset_seconds: Seconds | None = Field(None, description="When it started, seconds from the start of the call.")
    rang_seconds: Seconds | None = Field(None, description="From the transfer's start to its end (answered or not).")
    outcome: TransferAttempt.Outcome
    sip_status: Annotated[int, Field(ge=100, le=699), BeforeValidator(_not_a_boolean)] | None = None


class CallLogIn(_LogPart):
    """The end-of-call log exactly as the voice worker sends it (docs/internal-api.md)."""

    ended_at: dt.datetime | None = Field(None, description="ISO 8601, with offset (UTC if none); default: when the log "
                                         "arrives. Between the call's start and the log's arrival, give or take "
                                         "5 minutes; otherwise 400.")
    duration_seconds: Seconds | None = Field(None, description="Default: ended_at minus the call's start.")
    outcome: Literal[Call.AGENT_OUTCOMES + ("",)] = ""
    end_reason: Annotated[Text, Field(max_length=500)] = ""
    transferred_to: Annotated[Text, Field(max_length=200)] = ""
    sip_call_id_full: Annotated[Text, Field(max_length=300)] = ""
    transcript: list[TranscriptTurnIn] = Field(default_factory=list, max_length=MAX_TURNS)
    tool_calls: list[ToolCallIn] = Field(default_factory=list, max_length=MAX_TOOL_CALLS)
    usage: UsageIn = Field(default_factory=UsageIn)
    latency: list[LatencyIn] = Field(default_factory=list, max_length=MAX_LATENCY_ENTRIES)
    transfer_attempts: list[TransferAttemptIn] = Field(default_factory=list, max_length=MAX_TRANSFER_ATTEMPTS)


def _as_validation_error(error: PydanticValidationError) -> DomainError:
    """pydantic's errors as 400 `invalid_request` naming the field (`transcript[4].role`), like
    every other endpoint's."""
    fields: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        fields.setdefault(path or "non_field_errors", []).append(item["msg"])
    return invalid_request(fields)


# --- accepting a log (in the request) ----------------------------------------------------------

# What became of an accepted log: queued for storage, or this exact log is already stored.
ACCEPTED, ALREADY_STORED = "accepted", "already_stored"


def _refuse_too_many_entries(payload: dict) -> None:
    # Counted before validation: validating 100 000 turns would cost more than refusing them.
    limits = {"transfer_attempts": MAX_TRANSFER_ATTEMPTS, "transcript": MAX_TURNS, "tool_calls": MAX_TOOL_CALLS, "latency": MAX_LATENCY_ENTRIES}
    for field, limit in limits.items():
        value = payload.get(field)
        if isinstance(value, list) and len(value) > limit:
            raise DomainError("payload_too_large", f"The call log has more than {limit} entries in {field}.",
                              details={"field": field, "limit": limit})


def _seconds(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _final_outcome(*, logged: str, recorded: str) -> str:
    """The log is the worker's final word on the outcome, except that its catch-all `other` (or
    nothing) must not overwrite a specific outcome the agent recorded with `end_call`."""
    if logged and logged != Call.Outcome.OTHER:
        return logged
    if recorded in Call.AGENT_OUTCOMES:
        return recorded
    return Call.Outcome.OTHER


def _call_end_time(*, sent: dt.datetime | None, call: Call, received_at: dt.datetime) -> dt.datetime:
    """When the call ended: the worker's `ended_at`, if it can belong to this call. A time before
    the call started or after the log arrived (beyond the clocks' disagreement) is refused: stored,
    year 1 or 9999 broke every page that lists the call (PostgreSQL keeps 1 BC, psycopg cannot read
    it back) and the duration overflowed its column."""
    if sent is None:
        return received_at
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=dt.UTC)
    # Compared, never shifted: `sent - skew` itself overflows for 0001-01-01. A well-formed time that
    # cannot belong to this call is a semantic refusal (422), like the voice tools' business rules:
    # the schema cannot say "after this call's start", and schema-valid data is never a 400.
    if sent < call.started_at - CLOCK_SKEW:
        raise DomainError("invalid_end_time", f"The field ended_at must not be before the call started "
                          f"({call.started_at.isoformat()}).", details={"field": "ended_at"})
    if sent > received_at + CLOCK_SKEW:
        raise DomainError("invalid_end_time", "The field ended_at must not be in the future.",
                          details={"field": "ended_at"})
    # In UTC: an offset pydantic accepts (up to ±23:59) can be beyond PostgreSQL's (±15:59), which
    # was a 500 (`time zone displacement out of range`) for `…-01:00` read as `+21:57` after a shift.
    return min(max(sent, call.started_at), received_at).astimezone(dt.UTC)


def call_log_accept(*, call: Call, payload: Any, received_at: dt.datetime | None = None) -> str:
    """Validate the log, close the call with its metadata now, and queue the rest for storage.

    Returns ACCEPTED (queued) or ALREADY_STORED (this exact log is stored): either way the worker
    may forget the log. A call has one log: once one was received, the same log again is re-queued
    (after `ingestion_unavailable`) or recognised, and a different one raises DomainError
    `log_already_received` with nothing written. `ingestion_unavailable` (the broker is down)
    leaves the database where a re-send is harmless: the metadata is written, and the transcript is
    only ever written whole, by the task. `payload_too_large`: more entries than a call can have.
    A body that is not a log raises DomainError `invalid_request` (400, naming the field) before
    anything is written.
    """
    received_at = received_at or clock.now()
    if not isinstance(payload, dict):
        raise invalid_request({"non_field_errors": ["The call log must be a JSON object."]})
    _refuse_too_many_entries(payload)
    try:
        log_in = CallLogIn.model_validate(payload)
    except PydanticValidationError as error:
        raise _as_validation_error(error) from None
    ended_at = _call_end_time(sent=log_in.ended_at, call=call, received_at=received_at)
    duration = _seconds(log_in.duration_seconds)
    if duration is None:
        duration = _seconds(min((ended_at - call.started_at).total_seconds(), MAX_SECONDS))

    # Plain JSON from here on: it travels through Redis and may end up in the dead-letter table.
    # The digest covers the whole log as sent, metadata included, so "the same log" means exactly that.
    log_json = log_card_numbers_mask(log_in.model_dump(mode="json"))
    digest = call_log_digest(log_json)
    stored_part = {key: log_json[key] for key in ("transcript", "tool_calls", "usage", "latency")}
    with transaction.atomic():
        # The row lock: two different logs for one call arriving together must not both be taken.
        first = (Call.objects.select_for_update().filter(pk=call.pk)
                 .values("log_received_at", "log_stored_at", "metrics").first())
        first_digest = (first["metrics"] or {}).get("log_sha256") if first else None
        # A call closed by an earlier version without a digest takes the log as before.
        if first and first["log_received_at"] is not None and first_digest:
            if first_digest != digest:
                raise DomainError("log_already_received",
                                  "This call already has a different end-of-call log; it is not replaced.")
            if first["log_stored_at"] is not None:
                return ALREADY_STORED
            # The same log again, not stored yet (a re-send after a 503): queue it again below; the
            # task stores it once however often it is queued.
        else:
            Call.objects.filter(pk=call.pk).update(
                status=Call.Status.ENDED, ended_at=ended_at, duration_seconds=duration,
                outcome=_final_outcome(logged=log_in.outcome, recorded=call.outcome),
                end_reason=log_in.end_reason or call.end_reason,
                transferred_to=log_in.transferred_to or call.transferred_to,
                sip_call_id_full=log_in.sip_call_id_full or call.sip_call_id_full,
                log_received_at=received_at, metrics={"log_sha256": digest},
            )
            # Few and small, so written with the metadata (once: under the row lock, first log only)
            # rather than by the task: the call page shows them as soon as the call is closed.
            TransferAttempt.objects.bulk_create(
                TransferAttempt(call_id=call.pk, sequence=index, target=attempt.target, kind=attempt.kind,
                                offset_seconds=_seconds(attempt.offset_seconds), rang_seconds=_seconds(attempt.rang_seconds),
                                outcome=attempt.outcome, sip_status=attempt.sip_status)
                for index, attempt in enumerate(log_in.transfer_attempts))
    # The metadata is committed before the publish below, whether or not the broker takes the rest.

    try:
        # kwargsrepr: otherwise Celery builds a repr of the whole transcript for every message (~1 ms).
        call_log_store_task.apply_async(kwargs={"call_id": str(call.pk), "payload": {**stored_part, "log_sha256": digest}},
                                        kwargsrepr=f"{{'call_id': '{call.pk}'}}")
    except Exception as exc:  # kombu's OperationalError, redis-py's errors, a timeout: all mean "not queued"
        logger.warning("call log for %s not queued, broker unavailable: %s", call.pk, exc)
        raise DomainError(
            "ingestion_unavailable",
            "The call's details were saved, but its transcript could not be queued; send the log again later.",
            details={"metadata_saved": True},
        ) from exc
    return ACCEPTED
