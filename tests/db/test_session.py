"""The storage layer: aware UTC only, and concurrent writers that never hit "database is locked"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import GuildConfig, Timer
from db.session import ReadOnlySessionError, Sessions


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


async def test_fifty_concurrent_writers_never_see_database_is_locked(sessions: Sessions) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    async def writer(n: int) -> None:
        # read-then-write in one transaction: the pattern that fails with deferred BEGIN
        async with sessions.write() as session:
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


def timer_row(n: int) -> Timer:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Timer(event="rw", payload={"n": n}, expires=now, run_at=now, attempts=0, created_at=now)


async def test_a_read_proceeds_while_a_write_transaction_holds_the_lock(
    sessions: Sessions,
) -> None:
    async with sessions.write() as session:
        session.add(timer_row(1))
        await session.flush()  # the write lock is held until this block ends

        async def count_in_a_read_session() -> int:
            async with sessions.read() as reader:
                return await reader.scalar(select(func.count()).select_from(Timer)) or 0

        # with BEGIN IMMEDIATE this would wait for the 30 s busy timeout
        assert await asyncio.wait_for(count_in_a_read_session(), 2) == 0  # not yet committed
    async with sessions.read() as reader:
        assert await reader.scalar(select(func.count()).select_from(Timer)) == 1


async def test_a_read_session_sees_one_snapshot_while_writers_commit(sessions: Sessions) -> None:
    async with sessions.read() as reader:
        before = await reader.scalar(select(func.count()).select_from(Timer))
        async with sessions.write() as writer:  # commits while the read is open
            writer.add(timer_row(2))
        after = await reader.scalar(select(func.count()).select_from(Timer))
        assert before == after == 0
    async with sessions.read() as reader:
        assert await reader.scalar(select(func.count()).select_from(Timer)) == 1


async def test_a_read_session_refuses_to_write(sessions: Sessions) -> None:
    with pytest.raises(ReadOnlySessionError, match=r"sessions\.write\(\)"):
        async with sessions.read() as reader:
            reader.add(timer_row(3))
            await reader.flush()
    with pytest.raises(ReadOnlySessionError):
        async with sessions.read() as reader:
            await reader.execute(delete(Timer))
    async with sessions.read() as reader:
        assert await reader.scalar(select(func.count()).select_from(Timer)) == 0


async def test_reads_and_writes_interleaved_under_load_all_succeed(sessions: Sessions) -> None:
    """Many readers and read-then-write writers at once: no "database is locked", no lost write."""

    async def writer(n: int) -> None:
        async with sessions.write() as session:
            await session.scalar(select(func.count()).select_from(Timer))
            await asyncio.sleep(0)
            session.add(timer_row(n))

    async def reader() -> int:
        async with sessions.read() as session:
            first = await session.scalar(select(func.count()).select_from(Timer))
            await asyncio.sleep(0)
            second = await session.scalar(select(func.count()).select_from(Timer))
            assert first == second  # one snapshot
            return first or 0

    jobs = [writer(n) for n in range(30)] + [reader() for _ in range(60)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    async with sessions.read() as session:
        assert await session.scalar(select(func.count()).select_from(Timer)) == 30
