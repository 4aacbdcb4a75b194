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
2. `call_log_store` runs in the Celery worker, in the call's tenant schema (tenant-schemas-celery
   carries the schema in the task headers). It replaces the call's transcript and tool calls and
   writes the usage figures in ONE transaction, so a reader sees the whole log or none of it, and a
   log stored twice (spool re-send, Celery retry, duplicate delivery) still leaves exactly one copy.
   A log whose content hash matches the stored one is skipped without writing.
3. The task (calls/tasks.py) retries transient database errors with exponential backoff and, after
   the last retry, leaves the payload in `IngestionDeadLetter` (public schema, as ASCII JSON text,
   so it cannot fail on the data it keeps) for the operator, who replays it with
   `manage.py replay_dead_letters` or the admin action. Every retry is bounded.
4. `calls_close_abandoned` closes calls whose log never came (the worker died with the call).

The body size limit (CALL_LOG_MAX_BYTES → 413) is enforced by the API's JSON parser before any of
this runs (`CallLogView.max_body_bytes`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError
from rest_framework import serializers

from calls.models import Call, TranscriptTurn
from core import clock
from core.errors import DomainError

logger = logging.getLogger(__name__)

# Everything the log may carry beyond the metadata is bounded: a real 10-minute call has a few
# hundred turns; anything far beyond that is a bug or an attack, and is refused with 413.
MAX_TURNS = 2000
MAX_TOOL_CALLS = 500
MAX_LATENCY_ENTRIES = 2000
MAX_TURN_CHARS = 20_000
# Offsets and durations are stored as DECIMAL(8, 2): anything above this does not fit.
MAX_SECONDS = 999_999
# A tool's arguments and result are free-form JSON. The model's tool calls are a few levels deep
# (`items[0].name`); anything much deeper is an attack on the serialisers (pydantic gives up
# serialising at ~1000 levels, after the metadata was already written).
MAX_JSON_DEPTH = 16
# The worker's clock and ours may disagree a little: an end this far before the call's start (ours)
# or after the log's arrival is moved to that bound; anything further cannot belong to the call.
CLOCK_SKEW = dt.timedelta(minutes=5)


# --- the log's shape ---------------------------------------------------------------------------
# Declared with pydantic rather than DRF serializers, on purpose: a 30-turn log has ~230 fields, and
# DRF's per-field machinery spent 2.6-4 ms validating one (most of the request, bench/ingest.py);
# pydantic-core does the same checks in ~0.3 ms. drf-spectacular documents these models as well.

def _clean_text(value: Any) -> Any:
    """Speech-to-text output is not always clean text. NUL characters and lone surrogates, which
    PostgreSQL cannot store, are replaced rather than refusing — and so losing — the whole log."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


class JsonTooDeep(ValueError):
    pass


def json_clean(value: Any, *, max_depth: int = MAX_JSON_DEPTH, _depth: int = 0) -> Any:
    """JSON PostgreSQL's jsonb can hold: texts (keys too) cleaned like the transcript's, numbers
    json.loads read as infinite (`1e400`) or NaN become null. Raises JsonTooDeep beyond `max_depth`
    levels of lists and objects, rather than recursing until something else gives up."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)):
        if _depth >= max_depth:
            raise JsonTooDeep(f"nested more than {max_depth} levels deep")
        if isinstance(value, dict):
            # Two keys that differ only by a NUL become one; the later wins, as in JSON itself.
            return {_clean_text(str(key)): json_clean(item, max_depth=max_depth, _depth=_depth + 1)
                    for key, item in value.items()}
        return [json_clean(item, max_depth=max_depth, _depth=_depth + 1) for item in value]
    return value


def _clean_tool_json(value: Any) -> Any:
    try:
        return json_clean(value)
    except JsonTooDeep:
        raise PydanticCustomError("too_deep", "must not be nested more than {max_depth} levels deep.",
                                  {"max_depth": MAX_JSON_DEPTH}) from None


Text = Annotated[str, BeforeValidator(_clean_text)]
ToolJson = Annotated[Any, BeforeValidator(_clean_tool_json)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=2_000_000_000)]


class _LogPart(BaseModel):
    # Unknown fields are ignored, so a newer worker can add one without its logs being refused — a
    # refused log is a lost transcript.
    model_config = ConfigDict(extra="ignore")


class TranscriptTurnIn(_LogPart):
    role: TranscriptTurn.Role
    text: Annotated[Text, Field(max_length=MAX_TURN_CHARS)]
    offset_seconds: Seconds | None = Field(None, description="Seconds from the start of the call.")
    language: Annotated[Text, Field(max_length=16)] = ""
    interrupted: bool = False


class ToolCallIn(_LogPart):
    name: Annotated[Text, Field(max_length=64)]
    arguments: ToolJson = Field(default_factory=dict, description=f"Any JSON, at most {MAX_JSON_DEPTH} levels deep.")
    result: ToolJson = Field(default_factory=dict, description=f"Any JSON, at most {MAX_JSON_DEPTH} levels deep.")
    is_error: bool = False
    offset_seconds: Seconds | None = None
    duration_ms: Count | None = None

    @field_validator("arguments", "result")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class UsageIn(_LogPart):
    llm_prompt_tokens: Count = 0
    llm_completion_tokens: Count = 0
    stt_seconds: Annotated[float, Field(ge=0, le=99_999_999, allow_inf_nan=False)] = 0
    tts_characters: Count = 0


class LatencyIn(_LogPart):
    turn: Count | None = None
    llm_ttft_ms: Count | None = None
    tts_ttfb_ms: Count | None = None
    end_of_utterance_ms: Count | None = None
    e2e_latency_ms: Count | None = None
    transcription_delay_ms: Count | None = None


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


def _as_validation_error(error: PydanticValidationError) -> serializers.ValidationError:
    """pydantic's errors in DRF's shape, so the API answers 400 `invalid_request` naming the field
    (`transcript[4].role`) like every other endpoint."""
    fields: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        fields.setdefault(path or "non_field_errors", []).append(item["msg"])
    return serializers.ValidationError(fields)


# --- accepting a log (in the request) ----------------------------------------------------------

# What became of an accepted log: queued for storage, or this exact log is already stored.
ACCEPTED, ALREADY_STORED = "accepted", "already_stored"


def _refuse_too_many_entries(payload: dict) -> None:
    # Counted before validation: validating 100 000 turns would cost more than refusing them.
    limits = {"transcript": MAX_TURNS, "tool_calls": MAX_TOOL_CALLS, "latency": MAX_LATENCY_ENTRIES}
    for field, limit in limits.items():
        value = payload.get(field)
        if isinstance(value, list) and len(value) > limit:
            raise DomainError("payload_too_large", f"The call log has more than {limit} entries in {field}.",
                              details={"field": field, "limit": limit})


def call_log_digest(log: dict) -> str:
    """A hash of a log (as validated, plain JSON), to recognise the same log sent again."""
    canonical = json.dumps(log, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    # Compared, never shifted: `sent - skew` itself overflows for 0001-01-01.
    if sent < call.started_at - CLOCK_SKEW:
        raise serializers.ValidationError(
            {"ended_at": [f"must not be before the call started ({call.started_at.isoformat()})."]})
    if sent > received_at + CLOCK_SKEW:
        raise serializers.ValidationError({"ended_at": ["must not be in the future."]})
    return min(max(sent, call.started_at), received_at)


def call_log_accept(*, call: Call, payload: Any, received_at: dt.datetime | None = None) -> str:
    """Validate the log, close the call with its metadata now, and queue the rest for storage.

    Returns ACCEPTED (queued) or ALREADY_STORED (this exact log is stored): either way the worker
    may forget the log. A call has one log: once one was received, the same log again is re-queued
    (after `ingestion_unavailable`) or recognised, and a different one raises DomainError
    `log_already_received` with nothing written. `ingestion_unavailable` (the broker is down)
    leaves the database where a re-send is harmless: the metadata is written, and the transcript is
    only ever written whole, by the task. `payload_too_large`: more entries than a call can have.
    A body that is not a log raises DRF's ValidationError (the API renders it as 400
    `invalid_request`) before anything is written.
    """
    received_at = received_at or clock.now()
    if not isinstance(payload, dict):
        raise serializers.ValidationError({"non_field_errors": ["The call log must be a JSON object."]})
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
    log_json = log_in.model_dump(mode="json")
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
    # The metadata is committed before the publish below, whether or not the broker takes the rest.

    # Imported here because the task module imports this one.
    from calls.tasks import call_log_store as call_log_store_task

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


# --- storing a log (in the Celery worker) ------------------------------------------------------

def _average(entries: list[dict], key: str) -> int | None:
    values = [entry[key] for entry in entries if entry.get(key) is not None]
    if not values:
        return None
    return round(sum(values) / len(values))


# The transcript and tool calls go in as one JSON parameter each and PostgreSQL expands them into
# rows (jsonb_to_recordset), in the same statement that writes the call's figures. Why SQL and not
# bulk_create: building ~35 model instances and their INSERT in Python, plus Django's cursor per
# query (django-tenants sets search_path on each), cost 11.7 ms per log against 3.6 ms for this
# (bench/ingest.py); the whole store is now two statements on one cursor. Column names follow
# calls/models.py; test_call_log_ingestion.py checks every stored field.
_STORE_SQL = """
WITH turns AS (
    INSERT INTO calls_transcriptturn (call_id, sequence, role, text, offset_seconds, language, interrupted)
    SELECT %(call_id)s::uuid, t.ord, t.role, t.text, round(t.offset_seconds, 2), coalesce(t.language, ''),
           coalesce(t.interrupted, false)
    FROM ROWS FROM (jsonb_to_recordset(%(transcript)s::jsonb)
                    AS (role text, text text, offset_seconds numeric, language text, interrupted boolean))
         WITH ORDINALITY AS t (role, text, offset_seconds, language, interrupted, ord)
), tool_calls AS (
    INSERT INTO calls_toolinvocation (call_id, sequence, name, arguments, result, is_error, offset_seconds, duration_ms)
    SELECT %(call_id)s::uuid, t.ord, t.name, coalesce(t.arguments, '{}'), coalesce(t.result, '{}'),
           coalesce(t.is_error, false), round(t.offset_seconds, 2), t.duration_ms
    FROM ROWS FROM (jsonb_to_recordset(%(tool_calls)s::jsonb)
                    AS (name text, arguments jsonb, result jsonb, is_error boolean, offset_seconds numeric,
                        duration_ms integer))
         WITH ORDINALITY AS t (name, arguments, result, is_error, offset_seconds, duration_ms, ord)
)
UPDATE calls_call SET
    llm_prompt_tokens = %(llm_prompt_tokens)s, llm_completion_tokens = %(llm_completion_tokens)s,
    stt_seconds = round(%(stt_seconds)s::numeric, 2), tts_characters = %(tts_characters)s,
    metrics = %(metrics)s::jsonb, avg_llm_ttft_ms = %(avg_llm_ttft_ms)s, avg_tts_ttfb_ms = %(avg_tts_ttfb_ms)s,
    avg_end_of_utterance_ms = %(avg_end_of_utterance_ms)s, avg_e2e_latency_ms = %(avg_e2e_latency_ms)s,
    log_stored_at = %(now)s
WHERE id = %(call_id)s::uuid
"""


def call_log_store(*, call_id: str, payload: dict) -> str:
    """Store the transcript, tool calls, usage and latency of one call, in the current tenant schema.

    `payload` is what `call_log_accept` queued: validated, plain JSON, with the log's digest in
    `log_sha256`. Returns "stored", or "duplicate" when exactly this log is already stored. Raises
    `Call.DoesNotExist` for a call this schema does not have, JsonTooDeep for a payload no current
    API would have accepted, and OperationalError when a lock it needs stays held longer than
    CALL_LOG_LOCK_TIMEOUT_MS (the task retries that).
    """
    # Cleaned again here: a message queued by an earlier version, or a dead letter being replayed,
    # may still carry what jsonb cannot hold. Depth: the payload's own three levels on top of a
    # tool call's arguments.
    payload = json_clean(payload, max_depth=MAX_JSON_DEPTH + 3)
    digest = payload.pop("log_sha256", None) or call_log_digest(payload)
    usage = payload.get("usage") or {}
    latency = payload.get("latency") or []
    with transaction.atomic(), connection.cursor() as cursor:
        # A lock we cannot get soon is a transient error for the task to retry, not a worker
        # process blocked for as long as someone else holds it.
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.CALL_LOG_LOCK_TIMEOUT_MS}ms"])
        # The row lock serialises two deliveries of a log for the same call (a duplicate task and a
        # spool re-send can run at the same moment in two worker processes): the second waits,
        # then sees the first one's hash and skips, instead of both inserting turns.
        cursor.execute("SELECT log_stored_at, metrics ->> 'log_sha256' FROM calls_call WHERE id = %s FOR UPDATE",
                       [call_id])
        row = cursor.fetchone()
        if row is None:
            raise Call.DoesNotExist(f"No call {call_id} in schema {connection.schema_name}.")
        stored_at, stored_digest = row
        if stored_at is not None and stored_digest == digest:
            return "duplicate"
        if stored_at is not None:
            # A different log for a call already stored (a corrected re-send) replaces the old one.
            cursor.execute("DELETE FROM calls_transcriptturn WHERE call_id = %s", [call_id])
            cursor.execute("DELETE FROM calls_toolinvocation WHERE call_id = %s", [call_id])
        cursor.execute(_STORE_SQL, {
            "call_id": call_id,
            "transcript": json.dumps(payload.get("transcript") or []),
            "tool_calls": json.dumps(payload.get("tool_calls") or []),
            "llm_prompt_tokens": usage.get("llm_prompt_tokens") or 0,
            "llm_completion_tokens": usage.get("llm_completion_tokens") or 0,
            "stt_seconds": usage.get("stt_seconds") or 0,
            "tts_characters": usage.get("tts_characters") or 0,
            # {"latency": [per-turn figures as sent], "log_sha256": <hash of the stored log>}
            "metrics": json.dumps({"latency": latency, "log_sha256": digest}),
            "avg_llm_ttft_ms": _average(latency, "llm_ttft_ms"),
            "avg_tts_ttfb_ms": _average(latency, "tts_ttfb_ms"),
            "avg_end_of_utterance_ms": _average(latency, "end_of_utterance_ms"),
            "avg_e2e_latency_ms": _average(latency, "e2e_latency_ms"),
            "now": clock.now(),
        })
    return "stored"


# --- dead letters ------------------------------------------------------------------------------

def dead_letter_text(value: Any) -> str:
    """Text any PostgreSQL TEXT column holds, whatever the value: JSON with every non-ASCII
    character escaped, so a NUL or a lone surrogate is the six characters `\\u0000`, not a NUL."""
    try:
        return json.dumps(value, ensure_ascii=True)
    except (ValueError, TypeError, RecursionError) as exc:
        # Not JSON any more (cannot happen for what Celery decoded from JSON, but the dead letter
        # is the last place the log exists): keep Python's view of it, escaped the same way.
        try:
            return ascii(value)
        except RecursionError:
            return f"<the payload could not be written down: {exc}>"


def ingestion_dead_letter_create(*, call_id: str, payload: dict, error: str, attempts: int):
    """Keep a log the task gave up on, in the public schema, for the operator to see and replay.

    It must not fail on the data it keeps: the payload is kept as ASCII JSON text, not jsonb, and
    the error (which may quote the data) is escaped the same way."""
    from tenants.models import IngestionDeadLetter

    # The worker runs the task in the call's schema, so `connection.tenant` is the call's tenant.
    return IngestionDeadLetter.objects.create(
        tenant_id=connection.tenant.pk, call_id=call_id, payload=dead_letter_text(payload),
        error=error.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")[:10_000],
        attempts=attempts,
    )


def ingestion_dead_letter_replay(*, dead_letter) -> str:
    """Store a dead letter's payload now, in its tenant's schema, and mark it replayed. Returns
    what `call_log_store` returned; raises what it raised (the row then keeps the new error)."""
    from django_tenants.utils import tenant_context

    from tenants.models import IngestionDeadLetter

    try:
        with tenant_context(dead_letter.tenant):
            result = call_log_store(call_id=str(dead_letter.call_id), payload=json.loads(dead_letter.payload))
    except Exception as exc:
        IngestionDeadLetter.objects.filter(pk=dead_letter.pk).update(
            error=f"Replay failed: {exc.__class__.__name__}: {exc}"[:10_000], attempts=F("attempts") + 1,
        )
        raise
    dead_letter.replayed_at = clock.now()
    IngestionDeadLetter.objects.filter(pk=dead_letter.pk).update(replayed_at=dead_letter.replayed_at)
    return result


# --- calls that never sent a log ---------------------------------------------------------------

def calls_close_abandoned(*, now: dt.datetime | None = None, margin_seconds: int | None = None) -> int:
    """Close the current schema's calls that are still active long after they must have ended.

    The watchdog hangs up at `max_call_seconds`, so a call still active after that plus a margin
    (for a slow or spooled log) lost its worker. It gets outcome `abandoned` and ended_at = the
    latest moment it can have ended; the duration stays empty because nobody knows it. A log that
    arrives later still wins: `call_log_accept` overwrites all of this.
    """
    now = now or clock.now()
    margin = dt.timedelta(seconds=settings.CALL_ABANDONED_MARGIN_SECONDS if margin_seconds is None else margin_seconds)
    latest_end = ExpressionWrapper(F("started_at") + F("max_call_seconds") * dt.timedelta(seconds=1),
                                   output_field=DateTimeField())
    return (
        Call.objects.filter(status=Call.Status.ACTIVE)
        .alias(latest_end=latest_end)
        .filter(latest_end__lt=now - margin)
        .update(
            status=Call.Status.ENDED, outcome=Call.Outcome.ABANDONED, ended_at=latest_end,
            end_reason="No end-of-call log arrived; the voice worker probably stopped during the call.",
        )
    )
