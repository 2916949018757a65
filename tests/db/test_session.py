"""The storage layer: aware UTC only, and concurrent writers that never hit "database is locked"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import GuildConfig, Timer


async def test_sqlite_pragmas_are_set_on_every_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30000


async def test_naive_datetimes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(GuildConfig(guild_id=1, timezone="UTC", created_at=naive, updated_at=naive))


async def test_datetimes_come_back_as_aware_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    berlin_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    async with sessions.begin() as session:
        session.add(
            GuildConfig(guild_id=7, timezone="UTC", created_at=berlin_noon, updated_at=berlin_noon)
        )
    async with sessions() as session:
        row = await session.scalar(
            select(GuildConfig)
            .where(GuildConfig.guild_id == 7)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        assert row.created_at.tzinfo is UTC
        assert row.created_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


async def test_fifty_concurrent_writers_never_see_database_is_locked(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    async def writer(n: int) -> None:
        # read-then-write in one transaction: the pattern that fails with deferred BEGIN
        async with sessions.begin() as session:
            count = await session.scalar(select(func.count()).select_from(Timer))
            await asyncio.sleep(0)
            session.add(
                Timer(
                    event="load",
                    payload={"n": n, "seen": count},
                    expires=now,
                    run_at=now,
                    attempts=0,
                    created_at=now,
                )
            )

    results = await asyncio.gather(*(writer(n) for n in range(50)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Timer)) == 50
        seen = sorted(t.payload["seen"] for t in await session.scalars(select(Timer)))
    # every writer saw a distinct count: the transactions were serialized, none lost an update
    assert seen == list(range(50))
