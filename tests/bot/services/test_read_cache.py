"""Cached answers: served until a write to a table they read commits, one load per burst."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from bot.services.read_cache import ReadCache
from db.models import GuildConfig, Timer
from db.session import Sessions

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def timer_row() -> Timer:
    return Timer(event="c", payload={}, expires=NOW, run_at=NOW, attempts=0, created_at=NOW)


def guild_row(guild_id: int) -> GuildConfig:
    return GuildConfig(guild_id=guild_id, timezone="UTC", created_at=NOW, updated_at=NOW)


async def test_a_committed_write_changes_the_generation_of_the_tables_it_wrote(
    sessions: Sessions,
) -> None:
    timers, guilds = sessions.generation(["timer"]), sessions.generation(["guild_config"])
    async with sessions.write() as session:
        session.add(timer_row())
    assert sessions.generation(["timer"]) != timers
    assert sessions.generation(["guild_config"]) == guilds
    timers = sessions.generation(["timer"])
    async with sessions.write() as session:  # DML statements count too
        await session.execute(update(Timer).values(attempts=1))
    assert sessions.generation(["timer"]) != timers


async def test_a_rolled_back_write_or_a_read_changes_nothing(sessions: Sessions) -> None:
    before = sessions.generation(["timer", "guild_config"])
    with pytest.raises(RuntimeError):
        async with sessions.write() as session:
            session.add(timer_row())
            await session.flush()
            raise RuntimeError("abandon")
    async with sessions.read() as session:
        await session.scalar(select(func.count()).select_from(Timer))
    assert sessions.generation(["timer", "guild_config"]) == before


async def test_the_cache_serves_until_a_table_it_reads_is_written(sessions: Sessions) -> None:
    cache: ReadCache[str, int] = ReadCache(sessions, Timer)
    loads = 0

    async def count() -> int:
        nonlocal loads
        loads += 1
        async with sessions.read() as session:
            return await session.scalar(select(func.count()).select_from(Timer)) or 0

    assert await cache.get("n", count) == 0
    assert await cache.get("n", count) == 0
    assert loads == 1
    async with sessions.write() as session:  # another table: still cached
        session.add(guild_row(1))
    assert await cache.get("n", count) == 0
    assert loads == 1
    async with sessions.write() as session:
        session.add(timer_row())
    assert await cache.get("n", count) == 1
    assert loads == 2


async def test_a_burst_of_misses_shares_one_load(sessions: Sessions) -> None:
    cache: ReadCache[str, int] = ReadCache(sessions, Timer)
    loads = 0

    async def slow() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return 7

    assert await asyncio.gather(*(cache.get("k", slow) for _ in range(50))) == [7] * 50
    assert loads == 1


async def test_a_failed_load_is_not_cached(sessions: Sessions) -> None:
    cache: ReadCache[str, int] = ReadCache(sessions, Timer)

    async def broken() -> int:
        raise ValueError("no")

    async def fine() -> int:
        return 3

    with pytest.raises(ValueError, match="no"):
        await cache.get("k", broken)
    assert await cache.get("k", fine) == 3


async def test_entries_expire_after_max_age(sessions: Sessions) -> None:
    """Bounds how long another process's writes go unseen."""
    cache: ReadCache[str, int] = ReadCache(sessions, Timer, max_age=0.0)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await cache.get("k", load) == 1
    assert await cache.get("k", load) == 2
