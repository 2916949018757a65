"""The one scheduling mechanism: APScheduler wakes us when a durable timer is due.

APScheduler is the clock, not the store: a memory job store, jobs that carry only the timer id,
and everything rebuilt from the ``timer`` table at start-up and on a periodic refresh (which also
picks up timers written by other processes). Overdue timers fire at once with ``late=True``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.services.timers import TimerRecord, TimerService

log = logging.getLogger(__name__)

TimerHandler = Callable[[TimerRecord], Awaitable[None]]


class TimerDispatcher:
    def __init__(
        self,
        timers: TimerService,
        clock: Clock,
        *,
        max_attempts: int = 5,
        retry_base_seconds: float = 30.0,
        refresh_seconds: float = 300.0,
        late_after_seconds: float = 60.0,
        lease: timedelta = timedelta(minutes=5),
        concurrency: int = 8,
    ) -> None:
        self._timers = timers
        self._clock = clock
        self._handler: TimerHandler | None = None
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.refresh_seconds = refresh_seconds
        self.late_after = timedelta(seconds=late_after_seconds)
        self._lease = lease
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._started = False
        # bounds the work after an outage, when many overdue timers are due at once
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[bool]] = set()
        timers.add_listener(self.schedule)

    def set_handler(self, handler: TimerHandler) -> None:
        self._handler = handler

    @property
    def horizon(self) -> timedelta:
        return timedelta(seconds=self.refresh_seconds * 2)

    async def start(self) -> None:
        if self._started:
            return
        self._scheduler.start()
        self._started = True
        self._scheduler.add_job(
            self.refresh,
            "interval",
            seconds=self.refresh_seconds,
            id="timers:refresh",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        count = await self.refresh()
        log.info("timer dispatcher started with %d timer(s) due within %s", count, self.horizon)

    async def shutdown(self) -> None:
        """Stop waking up; interrupted handlers release their timers for the next start."""
        if self._started:
            self._scheduler.shutdown(wait=False)
            self._started = False
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self) -> int:
        """Schedule every pending timer due within the horizon (idempotent)."""
        pending = await self._timers.pending(due_before=self._clock.now() + self.horizon)
        for record in pending:
            self.schedule(record)
        return len(pending)

    def schedule(self, record: TimerRecord) -> None:
        if not self._started or record.status != "pending":
            return
        self._wake_at(record.id, record.run_at)

    def _wake_at(self, timer_id: int, when: datetime, *, not_before: float = 0.0) -> None:
        now = self._clock.now()
        if when > now + self.horizon:
            return  # a later refresh picks it up
        # APScheduler runs on real time; the wait is measured on our clock (the same in production)
        wait = max((when - now).total_seconds(), not_before)
        run_date = datetime.now(UTC) + timedelta(seconds=wait)
        job = self._scheduler.get_job(f"timer:{timer_id}")
        if job is not None and job.next_run_time is not None and job.next_run_time <= run_date:
            # Keep the earlier wake-up: waking early costs one claim that finds the timer not due
            # (and wakes again at its time), while moving a wake-up later could make it late, e.g.
            # when a refresh's older snapshot arrives after replace_timer moved the timer earlier.
            return
        self._scheduler.add_job(
            self._wake,
            "date",
            run_date=run_date,
            args=[timer_id],
            id=f"timer:{timer_id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def is_scheduled(self, timer_id: int) -> bool:
        return self._scheduler.get_job(f"timer:{timer_id}") is not None

    def next_wake(self, timer_id: int) -> datetime | None:
        """When the scheduler will next wake up for this timer (real time), if it will."""
        job = self._scheduler.get_job(f"timer:{timer_id}")
        return None if job is None else job.next_run_time

    async def _wake(self, timer_id: int) -> None:
        # The job only spawns a task we own, so shutdown can cancel and await it.
        task = asyncio.create_task(self.fire(timer_id), name=f"timer-{timer_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.retry_base_seconds * (2 ** max(attempts - 1, 0)))

    async def fire(self, timer_id: int) -> bool:
        """Run one due timer's handlers; True if they succeeded and the timer is done."""
        async with self._slots:
            return await self._fire(timer_id)

    async def _fire(self, timer_id: int) -> bool:
        claimed = await self._timers.claim(timer_id, self._lease)
        if claimed is None:
            await self._wake_again(timer_id)
            return False
        now = self._clock.now()
        record = replace(claimed, late=now - claimed.expires > self.late_after)
        claim = record.locked_until
        try:
            if self._handler is None:
                raise RuntimeError("no timer handler is installed")
            await self._handler(record)
        except asyncio.CancelledError:
            # shutting down: let the next start run it
            await self._timers.release(record.id, claimed_until=claim)
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if record.attempts >= self.max_attempts:
                log.exception("timer %s (%s) failed for good: %s", record.id, record.event, reason)
                await self._timers.mark_failed(record.id, reason, claimed_until=claim)
            else:
                retry_at = now + self.backoff(record.attempts)
                log.warning(
                    "timer %s (%s) attempt %d failed, retrying at %s: %s",
                    record.id,
                    record.event,
                    record.attempts,
                    retry_at.isoformat(),
                    reason,
                    exc_info=True,
                )
                await self._timers.mark_retry(record.id, reason, retry_at, claimed_until=claim)
            return False
        await self._timers.mark_done(record.id, claimed_until=claim)
        return True

    async def _wake_again(self, timer_id: int) -> None:
        """A wake-up that could not claim its timer: wake again when it can be claimed.

        The timer may not be due yet (moved later), or held by a run whose lease has not expired
        (a run in flight, or one a hard-killed process never finished). Without this it would
        wait for the next refresh, or, while the lease outlasts the refresh, the one after.
        """
        if not self._started:
            return
        record = await self._timers.get(timer_id)
        if record is None or record.status != "pending":
            return
        when = record.run_at
        if record.locked_until is not None:
            when = max(when, record.locked_until)
        # not_before: never spin if the row looks claimable but another run just took it
        self._wake_at(timer_id, when, not_before=1.0)
