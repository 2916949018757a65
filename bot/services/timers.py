"""Durable timers: rows that say "do EVENT with PAYLOAD at EXPIRES".

Every feature schedules through here (deadlines, reminders, follow-ups, daily evaluations). The row
is the truth; the dispatcher in ``bot.timers`` only wakes up at ``run_at``. A timer is marked done
after its handlers succeed (at-least-once); failures are retried with backoff and end as
``failed`` with the reason. Nothing is ever silently deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from db.models import Timer, TimerStatus
from db.session import Sessions


@dataclass(frozen=True, slots=True)
class TimerRecord:
    id: int
    event: str
    payload: dict[str, Any]
    key: str | None
    expires: datetime
    run_at: datetime
    status: str
    attempts: int
    last_error: str | None
    late: bool = False
    # set while a run holds the timer; identifies that run's claim
    locked_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Timer, *, late: bool = False) -> TimerRecord:
        return cls(
            id=row.id,
            event=row.event,
            payload=dict(row.payload or {}),
            key=row.key,
            expires=row.expires,
            run_at=row.run_at,
            status=str(row.status.value if isinstance(row.status, TimerStatus) else row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            late=late,
            locked_until=row.locked_until,
        )


TimerListener = Callable[[TimerRecord], None]


class TimerService:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._listeners: list[TimerListener] = []

    def add_listener(self, listener: TimerListener) -> None:
        """Called with every timer created or rescheduled here (the dispatcher schedules it)."""
        self._listeners.append(listener)

    def _notify(self, record: TimerRecord) -> None:
        for listener in self._listeners:
            listener(record)

    async def create_timer(
        self,
        when: datetime,
        event: str,
        payload: dict[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> TimerRecord:
        """Persist a timer. With ``key``, an existing timer of that key is returned instead."""
        if when.tzinfo is None:
            raise ValueError("timers need an aware datetime")
        now = self._clock.now()
        row = Timer(
            event=event,
            payload=payload or {},
            key=key,
            expires=when,
            run_at=when,
            status=TimerStatus.PENDING,
            attempts=0,
            created_at=now,
        )
        try:
            async with self._sessions.write() as session:
                session.add(row)
        except IntegrityError:
            if key is None:
                raise
            existing = await self.get_by_key(key)
            if existing is None:
                raise
            return existing
        record = TimerRecord.from_row(row)
        self._notify(record)
        return record

    async def replace_timer(
        self, when: datetime, event: str, payload: dict[str, Any] | None, *, key: str
    ) -> TimerRecord:
        """Move the keyed timer to ``when`` (creating it if needed), e.g. the next daily run."""
        async with self._sessions.write() as session:
            row = await session.scalar(select(Timer).where(Timer.key == key))
            if row is None:
                row = Timer(event=event, key=key, created_at=self._clock.now())
                session.add(row)
            row.payload = payload or {}
            row.expires = when
            row.run_at = when
            row.status = TimerStatus.PENDING
            row.attempts = 0
            row.last_error = None
            row.locked_until = None
            row.finished_at = None
        record = TimerRecord.from_row(row)
        self._notify(record)
        return record

    async def put(
        self,
        session: AsyncSession,
        when: datetime,
        event: str,
        payload: dict[str, Any],
        *,
        key: str,
    ) -> Timer:
        """Create or move the keyed timer inside the caller's transaction, so the timer and the
        change it belongs to commit together; pass the rows to ``announce`` after the commit."""
        if when.tzinfo is None:
            raise ValueError("timers need an aware datetime")
        row = await session.scalar(select(Timer).where(Timer.key == key))
        if row is None:
            row = Timer(event=event, key=key, created_at=self._clock.now())
            session.add(row)
        row.payload = payload
        row.expires = when
        row.run_at = when
        row.status = TimerStatus.PENDING
        row.attempts = 0
        row.last_error = None
        row.locked_until = None
        row.finished_at = None
        return row

    async def cancel_keys(self, session: AsyncSession, keys: Iterable[str]) -> None:
        """Cancel pending keyed timers inside the caller's transaction."""
        keys = list(keys)
        if keys:
            await session.execute(
                update(Timer)
                .where(Timer.key.in_(keys), Timer.status == TimerStatus.PENDING)
                .values(status=TimerStatus.CANCELLED, finished_at=self._clock.now())
            )

    def announce(self, rows: Iterable[Timer]) -> None:
        """Tell the dispatcher about timers ``put`` in a transaction that has committed."""
        for row in rows:
            self._notify(TimerRecord.from_row(row))

    async def get(self, timer_id: int) -> TimerRecord | None:
        async with self._sessions.read() as session:
            row = await session.get(Timer, timer_id)
            return TimerRecord.from_row(row) if row else None

    async def get_by_key(self, key: str) -> TimerRecord | None:
        async with self._sessions.read() as session:
            row = await session.scalar(select(Timer).where(Timer.key == key))
            return TimerRecord.from_row(row) if row else None

    async def pending(self, *, due_before: datetime | None = None) -> list[TimerRecord]:
        async with self._sessions.read() as session:
            query = select(Timer).where(Timer.status == TimerStatus.PENDING)
            if due_before is not None:
                query = query.where(Timer.run_at <= due_before)
            rows = await session.scalars(query.order_by(Timer.run_at, Timer.id))
            return [TimerRecord.from_row(r) for r in rows]

    async def claim(self, timer_id: int, lease: timedelta) -> TimerRecord | None:
        """Take a pending, due, unlocked timer for ``lease``; None if another run holds it."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            result = await session.execute(
                update(Timer)
                .where(
                    Timer.id == timer_id,
                    Timer.status == TimerStatus.PENDING,
                    Timer.run_at <= now,
                    (Timer.locked_until.is_(None)) | (Timer.locked_until < now),
                )
                .values(locked_until=now + lease, attempts=Timer.attempts + 1)
            )
            if not getattr(result, "rowcount", 0):
                return None
            row = await session.get(Timer, timer_id, populate_existing=True)
            assert row is not None
            return TimerRecord.from_row(row)

    @staticmethod
    def _held(timer_id: int, claimed_until: datetime | None) -> ColumnElement[bool]:
        """The row is still held by the run whose claim ended at ``claimed_until``.

        A listener may have re-armed its own timer (replace_timer clears the claim), and that new
        run may already have been claimed: the old run must then leave the row alone.
        """
        held: ColumnElement[bool] = Timer.locked_until.is_not(None)
        if claimed_until is not None:
            held = Timer.locked_until == claimed_until
        return (Timer.id == timer_id) & (Timer.status == TimerStatus.PENDING) & held

    async def release(self, timer_id: int, *, claimed_until: datetime | None = None) -> None:
        """Give back a claim without counting the attempt (the run was interrupted)."""
        async with self._sessions.write() as session:
            await session.execute(
                update(Timer)
                .where(self._held(timer_id, claimed_until))
                .values(locked_until=None, attempts=Timer.attempts - 1)
            )

    async def mark_done(self, timer_id: int, *, claimed_until: datetime | None = None) -> None:
        async with self._sessions.write() as session:
            await session.execute(
                update(Timer)
                .where(self._held(timer_id, claimed_until))
                .values(status=TimerStatus.DONE, finished_at=self._clock.now(), locked_until=None)
            )

    async def mark_retry(
        self,
        timer_id: int,
        error: str,
        run_at: datetime,
        *,
        claimed_until: datetime | None = None,
    ) -> TimerRecord | None:
        async with self._sessions.write() as session:
            row = await session.get(Timer, timer_id)
            if (
                row is None
                or row.status != TimerStatus.PENDING
                or row.locked_until is None
                or (claimed_until is not None and row.locked_until != claimed_until)
            ):
                return None
            row.last_error = error[:2000]
            row.run_at = run_at
            row.locked_until = None
        record = TimerRecord.from_row(row)
        self._notify(record)
        return record

    async def mark_failed(
        self, timer_id: int, error: str, *, claimed_until: datetime | None = None
    ) -> None:
        async with self._sessions.write() as session:
            await session.execute(
                update(Timer)
                .where(self._held(timer_id, claimed_until))
                .values(
                    status=TimerStatus.FAILED,
                    last_error=error[:2000],
                    finished_at=self._clock.now(),
                    locked_until=None,
                )
            )
