"""Measure durable timers on SQLite: create throughput, start-up scheduling, firing throughput,
and lateness on the real clock (how long after its due time a timer's handler runs).

Run: ``.venv/bin/python benchmarks/bench_timers.py [count]`` (default 2000). Prints figures.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import FakeClock, SystemClock
from bot.services.timers import TimerRecord, TimerService
from bot.timers import TimerDispatcher
from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_factory


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade_to_head(url)
        engine = create_engine(url)
        # timers due in the next 10 real minutes: scheduled at start-up, fired by hand below
        clock = FakeClock(datetime.now(UTC) + timedelta(seconds=30))
        timers = TimerService(create_session_factory(engine), clock)

        started = time.perf_counter()
        await asyncio.gather(
            *(
                timers.create_timer(clock.now() + timedelta(seconds=i % 600), "bench", {"i": i})
                for i in range(count)
            )
        )
        created = time.perf_counter() - started
        print(f"create {count} timers concurrently: {created:.2f} s ({count / created:.0f}/s)")

        dispatcher = TimerDispatcher(timers, clock, refresh_seconds=600)
        fired = 0

        async def handler(record: TimerRecord) -> None:
            nonlocal fired
            fired += 1

        dispatcher.set_handler(handler)
        tracemalloc.start()
        started = time.perf_counter()
        await dispatcher.start()
        scheduled = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"start-up: schedule {count} pending timers: {scheduled * 1000:.0f} ms, "
            f"peak memory {peak / 1e6:.1f} MB"
        )
        await dispatcher.shutdown()

        clock.advance(timedelta(minutes=11))
        due = await timers.pending(due_before=clock.now())
        started = time.perf_counter()
        for record in due:
            await dispatcher.fire(record.id)
        elapsed = time.perf_counter() - started
        print(
            f"fire {fired} due timers one by one: {elapsed:.2f} s "
            f"({elapsed / max(fired, 1) * 1000:.2f} ms each: claim, handler, mark done)"
        )
        await engine.dispose()
        await lateness(Path(tmp), min(count, 500))


async def lateness(tmp: Path, count: int) -> None:
    """Timers due over the next 3 s on the real clock, fired by the dispatcher's own wake-ups."""
    url = f"sqlite+aiosqlite:///{tmp / 'lateness.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    clock = SystemClock()
    timers = TimerService(create_session_factory(engine), clock)
    dispatcher = TimerDispatcher(timers, clock, refresh_seconds=600)
    late_ms: list[float] = []
    done = asyncio.Event()

    async def handler(record: TimerRecord) -> None:
        late_ms.append((clock.now() - record.expires).total_seconds() * 1000)
        if len(late_ms) == count:
            done.set()

    dispatcher.set_handler(handler)
    await dispatcher.start()
    start = clock.now() + timedelta(seconds=1)
    for i in range(count):
        await timers.create_timer(start + timedelta(seconds=2 * i / count), "bench", {"i": i})
    await asyncio.wait_for(done.wait(), timeout=60)
    await dispatcher.shutdown()
    await engine.dispose()
    late_ms.sort()
    p50 = late_ms[len(late_ms) // 2]
    p99 = late_ms[min(len(late_ms) - 1, int(len(late_ms) * 0.99))]
    print(
        f"lateness of {count} timers due over 2 s (real clock): p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {late_ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
