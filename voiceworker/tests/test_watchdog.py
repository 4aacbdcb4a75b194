"""The duration watchdog's three stages on a fake clock: a ten-minute call in milliseconds."""
import asyncio

from voiceworker.watchdog import CallWatchdog, FakeClock


def watchdog_recording(clock, *, max_call_seconds=600, first=120, final=30, failing=()):
    heard: list[tuple[str, float]] = []

    def stage(name):
        async def callback():
            heard.append((name, clock.monotonic()))
            if name in failing:
                raise RuntimeError(f"{name} broke")
        return callback

    watchdog = CallWatchdog(max_call_seconds=max_call_seconds, first_warning_seconds=first, final_warning_seconds=final,
                            on_first_warning=stage("first_warning"), on_final_warning=stage("final_warning"),
                            on_time_up=stage("time_up"), clock=clock)
    return watchdog, heard


def test_it_warns_twice_then_ends_the_call_on_time():
    async def run():
        clock = FakeClock()
        watchdog, heard = watchdog_recording(clock)
        watchdog.start()
        await clock.advance(479)
        assert heard == []
        await clock.advance(1)  # T-120
        assert heard == [("first_warning", 480)]
        await clock.advance(89)
        assert len(heard) == 1
        await clock.advance(1)  # T-30
        assert heard[-1] == ("final_warning", 570)
        await clock.advance(30)  # T-0
        assert heard[-1] == ("time_up", 600)
        await clock.advance(3600)
        assert len(heard) == 3

    asyncio.run(run())


def test_a_stopped_watchdog_stays_silent():
    async def run():
        clock = FakeClock()
        watchdog, heard = watchdog_recording(clock)
        watchdog.start()
        await clock.advance(500)
        await watchdog.stop()
        await clock.advance(600)
        return heard

    assert [name for name, _ in asyncio.run(run())] == ["first_warning"]


def test_a_call_shorter_than_the_warnings_still_ends_on_time():
    async def run():
        clock = FakeClock()
        watchdog, heard = watchdog_recording(clock, max_call_seconds=60, first=120, final=30)
        watchdog.start()
        await clock.advance(30)
        await clock.advance(30)
        return heard

    assert asyncio.run(run()) == [("final_warning", 30), ("time_up", 60)]


def test_a_warning_that_fails_does_not_keep_the_call_going():
    async def run():
        clock = FakeClock()
        watchdog, heard = watchdog_recording(clock, failing=("first_warning", "final_warning"))
        watchdog.start()
        await clock.advance(600)
        return heard

    assert [name for name, _ in asyncio.run(run())] == ["first_warning", "final_warning", "time_up"]
