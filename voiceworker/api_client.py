"""The worker's only way to the platform: HTTP calls to the internal voice API (docs/internal-api.md).

Three requests: call start (with the platform-wide INTERNAL_API_TOKEN), the voice tools and the
end-of-call log (both with the per-call token that call start returns). This module knows HTTP and
the API's JSON shapes; what a tool answer means to the model and the caller lives in `agent.py`.

Why one retry and only sometimes: a connection error that happened before anything was sent
(refused, DNS) is safe to retry for any request. A connection dropped after the request went out
may have been acted on, so only requests that are safe to repeat are retried then: reads, the
keyed writes (they carry an Idempotency-Key the API replays) and end_call (it sets a value).
A timeout is never retried: the caller is already waiting, and a second wait of the same length is
worse than an apology.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pydantic

from core.call_contract import TOOLS, CallConfig

logger = logging.getLogger("soniq.voiceworker")

DEFAULT_TIMEOUT_SECONDS = 4.0
# Pause before the single retry: long enough for a restarting API process to accept again.
RETRY_DELAY_SECONDS = 0.1

# The retry rules, from the one table of tools (core.call_contract.TOOLS). Writes that change bookings
# or orders carry an Idempotency-Key that stays the same on the retry, so the API answers a repeated
# request with the first response instead of booking (or moving) twice.
KEYED_ACTIONS = frozenset(tool.name for tool in TOOLS if tool.keyed)
# Safe to send twice: the reads, the keyed writes, and end_call (it records a value, twice is once).
REPEATABLE_ACTIONS = frozenset(tool.name for tool in TOOLS if tool.repeatable)


class ApiUnavailable(Exception):
    """The API could not be reached, timed out, or failed with a 5xx: nothing the caller can fix."""


class ApiRefused(Exception):
    """A 4xx: the API understood the request and said no."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class UnknownNumber(ApiRefused):
    """Call start: the dialled number belongs to no tenant."""


@dataclass(frozen=True)
class CallStart:
    call_id: str
    call_token: str
    config: CallConfig


@dataclass(frozen=True)
class ToolReply:
    """The API's answer to a tool call: `ok` with a result and a sentence the agent can say, or a
    refusal with a code and a speakable message."""

    ok: bool
    status: int
    result: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    error_code: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class SoniqApiClient:
    """One per call (or per command run): holds an aiohttp session created inside the running loop."""

    def __init__(self, *, base_url: str, internal_token: str = "", timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 retry_delay: float = RETRY_DELAY_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SoniqApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "soniq-voiceworker"})
        return self._session

    async def _post(self, path: str, body: dict[str, Any], *, token: str, repeatable: bool,
                    headers: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, dict[str, Any]]:
        """POST JSON and return (status, JSON body). Raises ApiUnavailable for transport failures,
        timeouts and non-JSON answers. `timeout` bounds the whole exchange, retry included."""
        request_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        url = f"{self.base_url}{path}"
        try:
            async with asyncio.timeout(timeout if timeout is not None else self.timeout):
                for attempt in (1, 2):
                    try:
                        async with self._http().post(url, json=body, headers=request_headers) as response:
                            text = await response.text()
                            status = response.status
                        break
                    except aiohttp.ClientConnectorError as exc:
                        # Nothing was sent: retrying cannot repeat an action.
                        if attempt == 2:
                            raise ApiUnavailable(f"cannot connect to {self.base_url}: {exc}") from exc
                    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                        # Dropped, reset or cut short after sending: the API may have acted on it.
                        if attempt == 2 or not repeatable:
                            raise ApiUnavailable(f"connection to {self.base_url} failed: {exc}") from exc
                    logger.warning("retrying %s after a connection error", path)
                    await asyncio.sleep(self.retry_delay)
        except TimeoutError as exc:
            raise ApiUnavailable(f"{path} timed out") from exc
        except aiohttp.ClientError as exc:
            raise ApiUnavailable(f"{path} failed: {exc}") from exc
        if status >= 500:
            raise ApiUnavailable(f"{path} answered {status}")
        try:
            data = json.loads(text) if text else {}
        except ValueError as exc:
            raise ApiUnavailable(f"{path} answered {status} with something that is not JSON") from exc
        return status, data if isinstance(data, dict) else {}

    async def start_call(self, *, called_number: str, caller_number: str, room: str, sip_call_id: str,
                         test_grant: str = "", callback_grant: str = "") -> CallStart:
        """Create the call and fetch its configuration. UnknownNumber for a number no tenant owns.
        `test_grant`: a test call's platform-signed grant (from the dispatch metadata), which names the business;
        `callback_grant`: the same for a callback the agent returns (it names the business and the attempt)."""
        body = {"called_number": called_number, "caller_number": caller_number, "room": room, "sip_call_id": sip_call_id}
        if test_grant:
            body["test_grant"] = test_grant
        if callback_grant:
            body["callback_grant"] = callback_grant
        status, data = await self._post(
            "/internal/calls/start",
            body,
            token=self.internal_token,
            # A dropped connection after sending may have created the call row; a second row would be
            # an orphan, so only the never-sent case is retried.
            repeatable=False,
        )
        if status == 201:
            try:
                return CallStart(call_id=str(data["call_id"]), call_token=str(data["call_token"]),
                                 config=CallConfig.model_validate(data["config"]))
            except (KeyError, TypeError, ValueError, pydantic.ValidationError) as exc:
                # A config the worker cannot read is the API's fault, not the caller's: the apology.
                raise ApiUnavailable(f"call start answered 201 without a readable call_id/call_token/config: "
                                     f"{exc}") from exc
        code, message = _error_of(data)
        if status == 404:
            raise UnknownNumber(status, code or "unknown_number", message)
        raise ApiRefused(status, code, message)

    async def callback_attempt_report(self, *, call_id: str, call_token: str, result: str, detail: str = "") -> None:
        """How the outbound call of a callback went (answered, voicemail, no_answer, busy, failed).
        Setting a value, so sent again after a dropped connection; a refusal is logged, not raised:
        the call goes on (an attempt left unreported is closed as failed by the platform)."""
        try:
            status, data = await self._post(f"/internal/calls/{call_id}/callback-attempt",
                                            {"result": result, "detail": detail[:300]}, token=call_token,
                                            repeatable=True)
        except ApiUnavailable as exc:
            logger.warning("call %s: the callback attempt's result %r could not be sent: %s", call_id, result, exc)
            return
        if not 200 <= status < 300:
            code, message = _error_of(data)
            logger.warning("call %s: the callback attempt's result %r was refused (%s %s: %s)", call_id, result,
                           status, code, message)

    async def call_tool(self, *, call_token: str, action: str, payload: dict[str, Any],
                        idempotency_key: str | None = None) -> ToolReply:
        """Run one voice tool. 4xx come back as a ToolReply with ok=False; ApiUnavailable otherwise."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        status, data = await self._post(f"/internal/voice-tools/{action}", payload, token=call_token,
                                        repeatable=action in REPEATABLE_ACTIONS, headers=headers)
        if 200 <= status < 300 and data.get("ok", True):
            result = data.get("result")
            return ToolReply(ok=True, status=status, result=result if isinstance(result, dict) else {},
                             message=str(data.get("message") or ""))
        code, message = _error_of(data)
        details = data.get("error", {}).get("details") if isinstance(data.get("error"), dict) else None
        return ToolReply(ok=False, status=status, message=message, error_code=code,
                         details=details if isinstance(details, dict) else {})

    async def send_call_log(self, *, call_id: str, call_token: str, log: dict[str, Any],
                            timeout: float | None = None) -> None:
        """POST the end-of-call log. The API de-duplicates by call id, so sending twice is harmless."""
        status, data = await self._post(f"/internal/calls/{call_id}/log", log, token=call_token, repeatable=True,
                                        timeout=timeout)
        if not 200 <= status < 300:
            code, message = _error_of(data)
            raise ApiRefused(status, code, message)


def _error_of(data: dict[str, Any]) -> tuple[str, str]:
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    # DRF's own errors (e.g. a 400 from a serializer) may come as {"detail": ...} or {field: [...]}.
    if "detail" in data:
        return "", str(data["detail"])
    return "", "; ".join(f"{name}: {value}" for name, value in data.items())
