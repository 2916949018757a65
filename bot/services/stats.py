"""Counts for /about, read in one query per table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import GuildConfig, Timer, TimerStatus


@dataclass(frozen=True, slots=True)
class Stats:
    configured_guilds: int
    pending_timers: int
    failed_timers: int
    extra: tuple[tuple[str, str], ...] = ()


class StatsService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def snapshot(self) -> Stats:
        async with self._sessions() as session:
            guilds = await session.scalar(select(func.count()).select_from(GuildConfig))
            by_status = dict(
                (await session.execute(select(Timer.status, func.count()).group_by(Timer.status)))
                .tuples()
                .all()
            )
        return Stats(
            configured_guilds=guilds or 0,
            pending_timers=by_status.get(TimerStatus.PENDING, 0),
            failed_timers=by_status.get(TimerStatus.FAILED, 0),
        )
