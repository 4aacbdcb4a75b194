"""The call-duration watchdog: a spoken warning at T−first, a final one at T−final, and at T−0 the
call is ended for the caller's sake (forced transfer, or goodbye + callback + hang-up).

The watchdog only keeps time and calls back; what each stage says and does is the entrypoint's
(`voiceworker.call_actions`). Time comes from an injectable clock, so tests drive the three stages
with `FakeClock.advance()` in milliseconds instead of sleeping through a ten-minute call.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger("soniq.voiceworker")

StageCallback = Callable[[], Awaitable[None]]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when told to. `sleep()` returns once `advance()` passes its deadline."""

    def __init__(self, start: float = 0.0):
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward and let every task woken by it run until it waits again."""
        self._now += seconds
        for deadline, future in list(self._sleepers):
            if deadline <= self._now:
                self._sleepers.remove((deadline, future))
                if not future.done():
                    future.set_result(None)
        # Several rounds, because a woken stage callback may await other ready work before the
        # watchdog reaches its next sleep.
        for _ in range(20):
            await asyncio.sleep(0)


@dataclass(frozen=True)
class Stage:
    name: str
    at_seconds: float
    callback: StageCallback


class CallWatchdog:
    def __init__(self, *, max_call_seconds: float, first_warning_seconds: float, final_warning_seconds: float,
                 on_first_warning: StageCallback, on_final_warning: StageCallback, on_time_up: StageCallback,
                 clock: Clock | None = None):
        self.clock = clock or SystemClock()
        self.max_call_seconds = max_call_seconds
        stages = [
            Stage("first_warning", max_call_seconds - first_warning_seconds, on_first_warning),
            Stage("final_warning", max_call_seconds - final_warning_seconds, on_final_warning),
        ]
        # A warning that would come at or before the call's start (a very short limit) is dropped;
        # the call still ends on time.
        self.stages = sorted((stage for stage in stages if 0 < stage.at_seconds < max_call_seconds),
                             key=lambda stage: stage.at_seconds)
        self.stages.append(Stage("time_up", max_call_seconds, on_time_up))
        self.fired: list[str] = []
        self._running_stage = ""
        self._task: asyncio.Task[None] | None = None
        self._started_at: float | None = None

    def start(self) -> None:
        self._started_at = self.clock.monotonic()
        self._task = asyncio.create_task(self._run(), name="soniq-call-watchdog")

    @property
    def started(self) -> bool:
        return self._started_at is not None

    def elapsed(self) -> float:
        return 0.0 if self._started_at is None else self.clock.monotonic() - self._started_at

    async def _run(self) -> None:
        assert self._started_at is not None
        for stage in self.stages:
            await self.clock.sleep(max(self._started_at + stage.at_seconds - self.clock.monotonic(), 0.0))
            self.fired.append(stage.name)
            self._running_stage = stage.name
            logger.info("call watchdog: %s at %.0f s", stage.name, self.elapsed())
            try:
                await stage.callback()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A warning that failed to play must not keep the call from ending on time.
                logger.exception("call watchdog stage %s failed", stage.name)
            finally:
                self._running_stage = ""

    def _ending_the_call(self) -> bool:
        # The time-up stage ends the call itself (and records it after the hang-up): let it finish.
        return self._running_stage == "time_up" or self._task is asyncio.current_task()

    def cancel(self) -> None:
        """Stop at once: the caller has left or the call is settled, so no warning and no time-up
        (a forced transfer of a caller who has gone) may follow."""
        if self._task is not None and not self._task.done() and not self._ending_the_call():
            self._task.cancel()

    async def stop(self, *, time_up_grace: float = 5.0) -> None:
        if self._task is None or self._task.done() or self._task is asyncio.current_task():
            return
        if self._running_stage == "time_up":
            try:
                await asyncio.wait_for(asyncio.shield(self._task), time_up_grace)
                return
            except TimeoutError:
                pass
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
