"""Counts behind /about."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.services.guilds import GuildService
from bot.services.stats import StatsService
from bot.services.timers import TimerService
from db.models import MemberProfile


async def test_snapshot_counts_per_guild(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    stats = StatsService(sessions)
    empty = await stats.snapshot(1)
    assert (empty.configured_guilds, empty.members, empty.chapters, empty.pending_timers) == (
        0,
        0,
        0,
        0,
    )
    await GuildService(sessions, clock).setup(1, timezone="UTC")
    await TimerService(sessions, clock).create_timer(clock.now(), "ping")
    async with sessions.begin() as session:
        for guild_id, user_id, left in [(1, 10, False), (1, 11, True), (2, 12, False)]:
            session.add(
                MemberProfile(
                    guild_id=guild_id,
                    user_id=user_id,
                    joined_at=clock.now(),
                    left_at=clock.now() if left else None,
                    updated_at=clock.now(),
                )
            )
    snapshot = await stats.snapshot(1)
    assert snapshot.configured_guilds == 1
    assert snapshot.pending_timers == 1
    assert snapshot.members == 1  # the one who left is not counted, nor guild 2's member
    assert (await stats.snapshot()).members == 2
    assert ("Members known", "1") in snapshot.extra
