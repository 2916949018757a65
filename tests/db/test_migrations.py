"""Migrations and models agree, and every migration can be undone and redone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from db.migrate import alembic_config, head_revision, recorded_revisions, upgrade_to_head
from db.models import Base, Chapter
from db.session import create_engine, create_session_factory


def models_differ_from_database(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"render_as_batch": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrations(database_url: str) -> None:
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        differences = await conn.run_sync(models_differ_from_database)
    await engine.dispose()
    assert differences == [], "models changed without a migration: run alembic revision"


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    await upgrade_to_head(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(models_differ_from_database) == []
    await engine.dispose()


def test_the_head_read_from_the_files_is_alembics_head(database_url: str) -> None:
    """Starts skip Alembic when the database records this head, so it must be Alembic's."""
    from alembic.script import ScriptDirectory

    assert [head_revision()] == ScriptDirectory.from_config(
        alembic_config(database_url)
    ).get_heads()


async def test_a_database_one_revision_behind_is_migrated(database_url: str) -> None:
    await upgrade_to_head(database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "-1")
    assert await recorded_revisions(database_url) != {head_revision()}
    await upgrade_to_head(database_url)
    assert await recorded_revisions(database_url) == {head_revision()}


async def test_chapters_formal_before_0006_get_a_grace_month(database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(command.upgrade, config, "0005")
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for chapter_id, status in ((1, "formal"), (2, "forming")):
            await conn.execute(
                text(
                    "INSERT INTO chapter (id, guild_id, name, name_key, geoname_id, city_label,"
                    " region_code, region_name, country_code, continent_code, timezone, status,"
                    " active, rotate_roles, created_by, created_at, status_changed_at)"
                    " VALUES (:id, 1, :name, :name, :id, 'x', 'x', 'x', 'US', 'NA', 'UTC', :status,"
                    " 1, 0, 1, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
                ),
                {"id": chapter_id, "name": f"c{chapter_id}", "status": status},
            )
    await engine.dispose()
    before = datetime.now(UTC)
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    async with create_session_factory(engine).read() as session:
        grace = dict((await session.execute(select(Chapter.id, Chapter.meeting_grace_until))).all())
    await engine.dispose()
    assert grace[2] is None
    assert grace[1] is not None
    assert before + timedelta(days=30) < grace[1] < datetime.now(UTC) + timedelta(days=32)
