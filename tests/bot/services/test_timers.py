"""Durable timers against a real database, with a clock the tests move."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.services.timers import TimerRecord, TimerService
from bot.timers import TimerDispatcher


@pytest.fixture
def timers(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> TimerService:
    return TimerService(sessions, clock)


def make_dispatcher(timers: TimerService, clock: FakeClock, **kwargs: float) -> TimerDispatcher:
    return TimerDispatcher(timers, clock, retry_base_seconds=10, max_attempts=3, **kwargs)  # type: ignore[arg-type]


async def test_create_persists_and_refuses_naive(timers: TimerService, clock: FakeClock) -> None:
    record = await timers.create_timer(clock.now() + timedelta(hours=1), "ping", {"x": 1})
    stored = await timers.get(record.id)
    assert stored is not None and stored.payload == {"x": 1} and stored.status == "pending"
    with pytest.raises(ValueError, match="aware"):
        await timers.create_timer(clock.now().replace(tzinfo=None), "ping")


async def test_keyed_timer_is_created_once(timers: TimerService, clock: FakeClock) -> None:
    first = await timers.create_timer(clock.now(), "ping", key="same")
    second = await timers.create_timer(clock.now() + timedelta(days=1), "ping", key="same")
    assert first.id == second.id
    assert len(await timers.pending()) == 1


async def test_fire_runs_handler_then_marks_done(timers: TimerService, clock: FakeClock) -> None:
    seen: list[TimerRecord] = []

    async def handler(record: TimerRecord) -> None:
        stored = await timers.get(record.id)
        assert stored is not None and stored.status == "pending"  # not done before success
        seen.append(record)

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(handler)
    record = await timers.create_timer(clock.now() + timedelta(minutes=5), "ping", {"a": 1})
    assert await dispatcher.fire(record.id) is False  # not due yet: nothing happens
    clock.advance(timedelta(minutes=5))
    assert await dispatcher.fire(record.id) is True
    assert [r.payload for r in seen] == [{"a": 1}]
    assert seen[0].late is False
    assert (await timers.get(record.id)).status == "done"  # type: ignore[union-attr]
    assert await dispatcher.fire(record.id) is False  # a second wake-up does nothing
    assert len(seen) == 1


async def test_overdue_timer_fires_with_late_flag(timers: TimerService, clock: FakeClock) -> None:
    seen: list[TimerRecord] = []

    async def handler(record: TimerRecord) -> None:
        seen.append(record)

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(handler)
    record = await timers.create_timer(clock.now(), "ping")
    clock.advance(timedelta(hours=3))  # the bot was offline
    assert await dispatcher.fire(record.id)
    assert seen[0].late is True


async def test_failing_handler_retries_with_backoff_then_fails(
    timers: TimerService, clock: FakeClock
) -> None:
    calls = 0

    async def handler(record: TimerRecord) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("discord is down")

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(handler)
    record = await timers.create_timer(clock.now(), "ping")
    assert not await dispatcher.fire(record.id)
    after_first = await timers.get(record.id)
    assert after_first is not None and after_first.status == "pending"
    assert after_first.run_at == clock.now() + timedelta(seconds=10)
    assert after_first.last_error == "RuntimeError: discord is down"
    assert not await dispatcher.fire(record.id)  # before the backoff elapsed: no call
    assert calls == 1
    clock.advance(timedelta(seconds=10))
    assert not await dispatcher.fire(record.id)
    assert (await timers.get(record.id)).run_at == clock.now() + timedelta(seconds=20)  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=20))
    assert not await dispatcher.fire(record.id)
    final = await timers.get(record.id)
    assert final is not None and final.status == "failed" and calls == 3
    assert final.last_error == "RuntimeError: discord is down"  # kept, never deleted


async def test_cancelled_timers_never_fire(
    timers: TimerService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    record = await timers.create_timer(clock.now(), "ping", key="ping:1")
    async with sessions.begin() as session:
        await timers.cancel_keys(session, ["ping:1"])
    cancelled = await timers.get(record.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    dispatcher = make_dispatcher(timers, clock)

    async def handler(record: TimerRecord) -> None:
        raise AssertionError("cancelled timers never fire")

    dispatcher.set_handler(handler)
    assert not await dispatcher.fire(record.id)


async def test_replace_timer_moves_keyed_timer(timers: TimerService, clock: FakeClock) -> None:
    first = await timers.replace_timer(clock.now(), "daily", {"d": 1}, key="daily:1")
    second = await timers.replace_timer(
        clock.now() + timedelta(days=1), "daily", {"d": 2}, key="daily:1"
    )
    assert first.id == second.id
    stored = await timers.get(first.id)
    assert stored is not None and stored.payload == {"d": 2}
    assert stored.run_at == clock.now() + timedelta(days=1)


async def test_two_concurrent_fires_run_the_handler_once(
    timers: TimerService, clock: FakeClock
) -> None:
    calls = 0

    async def handler(record: TimerRecord) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(handler)
    record = await timers.create_timer(clock.now(), "ping")
    results = await asyncio.gather(*(dispatcher.fire(record.id) for _ in range(5)))
    assert calls == 1 and results.count(True) == 1


async def test_scheduler_wakes_due_timers_and_restart_reschedules(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With the real clock and APScheduler: a restart (new dispatcher) fires what is pending."""
    from bot.clock import SystemClock

    clock = SystemClock()
    timers = TimerService(sessions, clock)
    fired: list[int] = []
    done = asyncio.Event()

    async def handler(record: TimerRecord) -> None:
        fired.append(record.id)
        done.set()

    first = TimerDispatcher(timers, clock)
    first.set_handler(handler)
    await first.start()
    record = await timers.create_timer(clock.now() + timedelta(milliseconds=200), "ping")
    assert first.is_scheduled(record.id)
    await first.shutdown()  # "crash" before it fires

    second = TimerDispatcher(TimerService(sessions, clock), clock)
    second.set_handler(handler)
    await second.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
        for _ in range(100):
            stored = await timers.get(record.id)
            if stored is not None and stored.status == "done":
                break
            await asyncio.sleep(0.02)
    finally:
        await second.shutdown()
    assert fired == [record.id]
    assert stored is not None and stored.status == "done"


async def test_shutdown_interrupts_a_handler_and_gives_the_timer_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from bot.clock import SystemClock

    clock = SystemClock()
    timers = TimerService(sessions, clock)
    started = asyncio.Event()

    async def slow_handler(record: TimerRecord) -> None:
        started.set()
        await asyncio.sleep(30)

    dispatcher = TimerDispatcher(timers, clock)
    dispatcher.set_handler(slow_handler)
    await dispatcher.start()
    record = await timers.create_timer(clock.now(), "slow")
    await asyncio.wait_for(started.wait(), timeout=5)
    await dispatcher.shutdown()
    stored = await timers.get(record.id)
    assert stored is not None and stored.status == "pending"
    assert stored.attempts == 0  # an interrupted run is not a failed attempt
    # and the next start can claim it at once (the lease was released)
    assert await timers.claim(record.id, timedelta(minutes=5)) is not None


async def test_listener_that_rearms_its_own_timer_keeps_it_pending(
    timers: TimerService, clock: FakeClock
) -> None:
    """A daily job moves its keyed timer to tomorrow from inside its own listener."""
    runs: list[int] = []

    async def daily(record: TimerRecord) -> None:
        runs.append(record.id)
        await timers.replace_timer(
            clock.now() + timedelta(days=1), "daily", record.payload, key=record.key or ""
        )

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(daily)
    record = await timers.replace_timer(clock.now(), "daily", {"g": 1}, key="daily:g1")
    assert await dispatcher.fire(record.id)
    stored = await timers.get(record.id)
    assert stored is not None and stored.status == "pending"
    assert stored.run_at == clock.now() + timedelta(days=1)
    clock.advance(timedelta(days=1))
    assert await dispatcher.fire(record.id)
    assert runs == [record.id, record.id]


async def test_timer_held_by_a_killed_run_fires_when_the_lease_expires(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A process hard-killed mid-run leaves its claim; the next start runs it once that expires.

    It used to wait for a refresh after the lease expired (5 to 10 minutes with the defaults)."""
    from bot.clock import SystemClock

    clock = SystemClock()
    timers = TimerService(sessions, clock)
    record = await timers.create_timer(clock.now(), "ping")
    assert await timers.claim(record.id, timedelta(milliseconds=300)) is not None  # then killed
    done = asyncio.Event()

    async def handler(record: TimerRecord) -> None:
        done.set()

    dispatcher = TimerDispatcher(timers, clock, refresh_seconds=300)
    dispatcher.set_handler(handler)
    await dispatcher.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        await dispatcher.shutdown()


async def test_a_stale_schedule_never_moves_a_wake_up_later(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A refresh's snapshot taken before replace_timer moved a timer earlier must not win."""
    from dataclasses import replace as with_fields

    from bot.clock import SystemClock

    clock = SystemClock()
    timers = TimerService(sessions, clock)
    dispatcher = TimerDispatcher(timers, clock)
    await dispatcher.start()
    try:
        record = await timers.replace_timer(
            clock.now() + timedelta(seconds=30), "ping", {}, key="k"
        )
        wake = dispatcher.next_wake(record.id)
        assert wake is not None
        dispatcher.schedule(with_fields(record, run_at=clock.now() + timedelta(seconds=300)))
        assert dispatcher.next_wake(record.id) == wake
    finally:
        await dispatcher.shutdown()


async def test_an_earlier_wake_up_for_a_timer_moved_later_waits_for_its_new_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from bot.clock import SystemClock

    clock = SystemClock()
    timers = TimerService(sessions, clock)
    fired: list[float] = []

    async def handler(record: TimerRecord) -> None:
        fired.append(asyncio.get_running_loop().time())

    dispatcher = TimerDispatcher(timers, clock)
    dispatcher.set_handler(handler)
    await dispatcher.start()
    try:
        record = await timers.replace_timer(clock.now(), "ping", {}, key="k")
        await timers.replace_timer(clock.now() + timedelta(seconds=1.2), "ping", {}, key="k")
        start = asyncio.get_running_loop().time()
        for _ in range(100):
            if fired:
                break
            await asyncio.sleep(0.05)
        assert len(fired) == 1 and fired[0] - start >= 1.0
        stored = await timers.get(record.id)
        assert stored is not None and stored.status == "done"
    finally:
        await dispatcher.shutdown()


async def test_an_old_run_never_settles_the_run_that_followed_a_rearm(
    timers: TimerService, clock: FakeClock
) -> None:
    """A listener re-arms its timer for now and the new run starts before the old one returns:
    the old run's success must not mark the new run's timer done (it then fails, and retries)."""
    inner_started = asyncio.Event()
    release_inner = asyncio.Event()
    calls = 0
    inner: list[asyncio.Task[bool]] = []

    async def handler(record: TimerRecord) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await timers.replace_timer(clock.now(), "ping", {}, key="k")
            clock.advance(timedelta(seconds=1))
            inner.append(asyncio.create_task(dispatcher.fire(record.id)))
            await inner_started.wait()
            return
        inner_started.set()
        await release_inner.wait()
        raise RuntimeError("second run fails")

    dispatcher = make_dispatcher(timers, clock)
    dispatcher.set_handler(handler)
    record = await timers.replace_timer(clock.now(), "ping", {}, key="k")
    assert await dispatcher.fire(record.id) is True
    stored = await timers.get(record.id)
    assert stored is not None and stored.status == "pending"  # the second run still holds it
    release_inner.set()
    assert await inner[0] is False
    stored = await timers.get(record.id)
    assert stored is not None and stored.status == "pending"
    assert stored.last_error == "RuntimeError: second run fails" and stored.locked_until is None
