"""Getting the end-of-call log to the API without ever holding up teardown, and without losing it.

`deliver()` sends the log with a hard bound (5 s): teardown of a call must not wait on a slow API.
A log that could not be sent — timeout, API down, 5xx — is written to the spool directory
(`settings.VOICE_SPOOL_DIR`, one JSON file per call) and re-sent later by `resend_spooled()`, which
the worker runs at start and then periodically (`SpoolResender`). The API stores a call's log once
(it de-duplicates by call id), so a log that did arrive although we timed out, and is then re-sent,
is still stored once.

Several processes may resend at the same time (the worker's main process, a second worker on the
same host): a file is claimed by renaming it before sending, and only the claimant sends it.
A log the API refuses with a 4xx (the call token expired, the body is invalid) will never be
accepted; it is moved to `rejected/` for a person to look at instead of being retried forever.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from voiceworker.api_client import ApiRefused, ApiUnavailable, SoniqApiClient

logger = logging.getLogger("soniq.voiceworker")

SEND_TIMEOUT_SECONDS = 5.0
RESEND_INTERVAL_SECONDS = 60.0
# A claim older than this belongs to a process that died mid-send; the file is fair game again.
STALE_CLAIM_SECONDS = 300.0


def spool_claims_release(spool_dir: Path, pattern: str) -> None:
    """Give back spool files a sender claimed (renamed `<name>.sending-<id>`) and never finished: a
    process killed mid-send. Older than STALE_CLAIM_SECONDS, they are another sender's to try again."""
    if not spool_dir.is_dir():
        return
    now = time.time()
    for claimed in spool_dir.glob(pattern):
        try:
            if now - claimed.stat().st_mtime > STALE_CLAIM_SECONDS:
                os.rename(claimed, claimed.with_name(claimed.name.split(".sending-")[0]))
        except OSError:
            continue


class CallLogger:
    def __init__(self, *, api_url: str, spool_dir: str | os.PathLike, send_timeout: float = SEND_TIMEOUT_SECONDS):
        self.api_url = api_url
        self.spool_dir = Path(spool_dir)
        self.send_timeout = send_timeout

    async def deliver(self, *, call_id: str, call_token: str, log: dict[str, Any]) -> bool:
        """Send the log, or spool it. Returns within `send_timeout` (plus a local file write) and
        never raises: it runs in teardown."""
        try:
            await asyncio.wait_for(self._send(call_id=call_id, call_token=call_token, log=log), self.send_timeout)
            return True
        except ApiRefused as exc:
            logger.error("the API refused the log of call %s: %s", call_id, exc)
            self._write(self.spool_dir / "rejected", call_id, call_token, log, error=str(exc))
        except (ApiUnavailable, TimeoutError) as exc:
            logger.warning("could not send the log of call %s (%s); spooled for a later retry", call_id, exc or "timeout")
            self.spool(call_id=call_id, call_token=call_token, log=log)
        except Exception:
            logger.exception("unexpected error sending the log of call %s; spooled", call_id)
            self.spool(call_id=call_id, call_token=call_token, log=log)
        return False

    async def _send(self, *, call_id: str, call_token: str, log: dict[str, Any]) -> None:
        async with SoniqApiClient(base_url=self.api_url, timeout=self.send_timeout) as client:
            await client.send_call_log(call_id=call_id, call_token=call_token, log=log)

    def spool(self, *, call_id: str, call_token: str, log: dict[str, Any]) -> Path | None:
        return self._write(self.spool_dir, call_id, call_token, log)

    def _write(self, directory: Path, call_id: str, call_token: str, log: dict[str, Any], error: str = "") -> Path | None:
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / f"{_safe_name(call_id)}.json"
            temporary = directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
            entry = {"call_id": call_id, "call_token": call_token, "log": log, "spooled_at": time.time()}
            if error:
                entry["error"] = error
            # Written under a temporary name and renamed, so a resender never reads half a file.
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(temporary, path)
            return path
        except OSError:
            logger.exception("could not spool the log of call %s; it is lost", call_id)
            return None

    def spooled(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(self.spool_dir.glob("*.json"))

    async def resend_spooled(self) -> int:
        """Try every spooled log once. Returns how many were delivered."""
        spool_claims_release(self.spool_dir, "*.json.sending-*")
        delivered = 0
        for path in self.spooled():
            claimed = path.with_name(f"{path.name}.sending-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            try:
                entry = json.loads(claimed.read_text(encoding="utf-8"))
                call_id, call_token, log = entry["call_id"], entry["call_token"], entry["log"]
            except (OSError, ValueError, KeyError, TypeError):
                logger.error("unreadable spool file %s; moved to rejected/", path.name)
                self._move(claimed, self.spool_dir / "rejected" / path.name)
                continue
            try:
                await asyncio.wait_for(self._send(call_id=call_id, call_token=call_token, log=log), self.send_timeout)
            except ApiRefused as exc:
                logger.error("the API refused the spooled log of call %s: %s; moved to rejected/", call_id, exc)
                self._move(claimed, self.spool_dir / "rejected" / path.name)
            except (ApiUnavailable, TimeoutError) as exc:
                logger.info("spooled log of call %s still not delivered: %s", call_id, exc or "timeout")
                self._move(claimed, path)
                # The API is still unreachable: the next file would only wait out the same timeout.
                break
            else:
                claimed.unlink(missing_ok=True)
                delivered += 1
                logger.info("delivered the spooled log of call %s", call_id)
        return delivered

    def _move(self, source: Path, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(source, target)
        except OSError:
            logger.exception("could not move spool file %s", source)


class SpoolResender:
    """Re-sends spooled logs at start and then every `interval` seconds, from a daemon thread with
    its own event loop, so it runs beside the livekit-agents CLI in the worker's main process."""

    def __init__(self, call_logger: CallLogger, *, interval: float = RESEND_INTERVAL_SECONDS):
        self.call_logger = call_logger
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soniq-spool-resender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.call_logger.spooled():
                    asyncio.run(self.call_logger.resend_spooled())
            except Exception:
                logger.exception("resending spooled call logs failed")
            self._stop.wait(self.interval)


def _safe_name(call_id: str) -> str:
    return "".join(ch for ch in call_id if ch.isalnum() or ch in "-_")[:100] or uuid.uuid4().hex
