"""The same migrations, models and services on PostgreSQL.

Needs a PostgreSQL server: TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test,
the local server on the project's machines and CI). Each run creates and drops its own database.
Without a server the tests skip saying so, except under CI (CI=true), where they fail: .ci/run
starts PostgreSQL so these always run there.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bot.clock import FakeClock
from bot.services.chapter_settings import ChapterSettingsService
from bot.services.chapters import ChapterService
from bot.services.places import Gazetteer
from bot.services.timers import TimerService
from bot.timers import TimerDispatcher
from db.migrate import upgrade_to_head
from db.models import Chapter, ChapterStatus, ChapterStatusChange, GuildConfig, Timer
from db.session import ReadOnlySessionError, Sessions, create_engine, create_session_factory
from tests.db.test_migrations import models_differ_from_database

pytest.importorskip("asyncpg", reason="the postgres extra (asyncpg) is not installed")

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _admin_connect_or_skip() -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure means "no server here"
        reason = f"PostgreSQL is not reachable at {make_url(ADMIN_URL).render_as_string()}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must run these tests; .ci/run starts PostgreSQL)")
        pytest.skip(f"{reason}. Set TEST_POSTGRES_URL or start PostgreSQL to run these tests.")
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    await _admin_connect_or_skip()
    name = f"chapterbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_to_head(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(pg_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_migrations_create_every_table(pg_url: str) -> None:
    engine = create_engine(pg_url)
    async with engine.connect() as conn:
        tables = set(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
        )
        differences = await conn.run_sync(models_differ_from_database)
    await engine.dispose()
    assert {"timer", "guild_config", "chapter", "member_profile", "alembic_version"} <= tables
    assert differences == []


async def test_aware_utc_round_trip(pg_sessions: async_sessionmaker[AsyncSession]) -> None:
    tokyo = datetime(2026, 3, 29, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    async with pg_sessions.begin() as session:
        session.add(
            GuildConfig(guild_id=2**62, timezone="Asia/Tokyo", created_at=tokyo, updated_at=tokyo)
        )
    async with pg_sessions() as session:
        row = await session.get(GuildConfig, 2**62)
    assert row is not None and row.created_at == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert row.created_at.tzinfo is UTC


async def test_timers_lifecycle_and_concurrent_claims(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock()
    timers = TimerService(pg_sessions, clock)
    dispatcher = TimerDispatcher(timers, clock, max_attempts=2, retry_base_seconds=5)
    calls: list[int] = []

    async def handler(record: object) -> None:
        calls.append(1)
        await asyncio.sleep(0.01)

    dispatcher.set_handler(handler)  # type: ignore[arg-type]
    record = await timers.create_timer(clock.now(), "ping", {"n": 1}, key="pg-once")
    again = await timers.create_timer(clock.now(), "ping", {"n": 2}, key="pg-once")
    assert again.id == record.id
    results = await asyncio.gather(*(dispatcher.fire(record.id) for _ in range(5)))
    assert results.count(True) == 1 and len(calls) == 1
    assert (await timers.get(record.id)).status == "done"  # type: ignore[union-attr]


async def test_fifty_concurrent_writers(pg_sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    async def writer(n: int) -> None:
        async with pg_sessions.begin() as session:
            session.add(
                Timer(
                    event="load",
                    payload={"n": n},
                    expires=now,
                    run_at=now,
                    attempts=0,
                    created_at=now,
                )
            )

    await asyncio.gather(*(writer(n) for n in range(50)))
    async with pg_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Timer)) == 50


async def test_read_and_write_sessions(pg_sessions: Sessions) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with pg_sessions.write() as session:
        session.add(Timer(event="rw", payload={}, expires=now, run_at=now, created_at=now))
    async with pg_sessions.read() as session:
        assert await session.scalar(select(func.count()).select_from(Timer)) == 1
        with pytest.raises(ReadOnlySessionError):
            await session.execute(delete(Timer))


async def test_one_live_chapter_per_city_but_archived_ones_do_not_block(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def chapter(active: bool | None) -> Chapter:
        return Chapter(
            guild_id=1,
            name="Chicago",
            name_key=f"chicago-{uuid.uuid4().hex}",
            geoname_id=4887398,
            city_label="Chicago, IL, US",
            region_code="IL",
            region_name="Illinois",
            country_code="US",
            continent_code="NA",
            timezone="America/Chicago",
            status=ChapterStatus.FORMING if active else ChapterStatus.ARCHIVED,
            active=active,
            created_by=1,
            created_at=now,
            status_changed_at=now,
        )

    for _ in range(2):  # two chapters in the city that were archived (active set to NULL)
        async with pg_sessions.begin() as session:
            old = chapter(True)
            session.add(old)
            await session.flush()
            old.active = None
    async with pg_sessions.begin() as session:
        session.add(chapter(True))
    with pytest.raises(IntegrityError):
        async with pg_sessions.begin() as session:
            session.add(chapter(True))


async def test_concurrent_joins_make_a_chapter_formal_once(
    pg_sessions: async_sessionmaker[AsyncSession], gazetteer: Gazetteer
) -> None:
    """Each change locks its chapter row, so two joins crossing the threshold at once don't
    both see "5 members" and record (and announce) the same transition twice."""
    clock = FakeClock()
    chapters = ChapterService(pg_sessions, clock, gazetteer)
    await ChapterSettingsService(pg_sessions, clock).update(
        1, meeting_months=0, require_agreements=False, key_roles=()
    )
    chapter = await chapters.propose(1, 1, "Chicago")
    for user in (2, 3, 4):
        await chapters.join(1, chapter.id, user)
    results = await asyncio.gather(*(chapters.join(1, chapter.id, user) for user in (5, 6, 7)))
    assert sum(len(r.transitions) for r in results) == 1
    async with pg_sessions() as session:
        changes = list(
            await session.scalars(
                select(ChapterStatusChange.to_status).where(
                    ChapterStatusChange.chapter_id == chapter.id
                )
            )
        )
    assert changes == [ChapterStatus.FORMING, ChapterStatus.FORMAL]
