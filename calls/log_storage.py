"""Storing an accepted end-of-call log, in the Celery worker (the flow is in calls/ingestion.py): the
transcript, tool calls, usage and latency in one statement; the dead letters a log that cannot be
stored leaves for the operator; and the sweep that closes calls whose log never came. Also the
cleaning of what PostgreSQL's jsonb cannot hold, which the request (ingestion) and the worker share.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F

from calls.models import Call
from core import clock
from core.card_numbers import mask_card_numbers, mask_card_numbers_in

# A tool's arguments and result are free-form JSON. The model's tool calls are a few levels deep
# (`items[0].name`); anything much deeper is an attack on the serialisers (pydantic gives up
# serialising at ~1000 levels, after the metadata was already written).
MAX_JSON_DEPTH = 16


def text_clean(value: Any) -> Any:
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
        return text_clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)):
        if _depth >= max_depth:
            raise JsonTooDeep(f"nested more than {max_depth} levels deep")
        if isinstance(value, dict):
            # Two keys that differ only by a NUL become one; the later wins, as in JSON itself.
            return {text_clean(str(key)): json_clean(item, max_depth=max_depth, _depth=_depth + 1)
                    for key, item in value.items()}
        return [json_clean(item, max_depth=max_depth, _depth=_depth + 1) for item in value]
    return value


def log_card_numbers_mask(log: dict) -> dict:
    """Card numbers a caller read out (or a tool was given) never reach Redis, the dead letters or the
    tables: masked as soon as the log is validated (calls/ingestion.py), and again when it is stored
    (a dead letter kept by an earlier version may still hold one)."""
    log = dict(log)
    log["transcript"] = [{**turn, "text": mask_card_numbers(turn.get("text") or "")} if isinstance(turn, dict) else turn
                         for turn in log.get("transcript") or []]
    log["tool_calls"] = [{**tool_call, "arguments": mask_card_numbers_in(tool_call.get("arguments")),
                          "result": mask_card_numbers_in(tool_call.get("result"))}
                         if isinstance(tool_call, dict) else tool_call for tool_call in log.get("tool_calls") or []]
    return log


def call_log_digest(log: dict) -> str:
    """A hash of a log (as validated, plain JSON), to recognise the same log sent again."""
    canonical = json.dumps(log, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    payload = log_card_numbers_mask(json_clean(payload, max_depth=MAX_JSON_DEPTH + 3))
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
