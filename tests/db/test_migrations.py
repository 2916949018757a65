"""Migrations and models agree, and every migration can be undone and redone."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from db.migrate import alembic_config, head_revision, recorded_revisions, upgrade_to_head
from db.models import Base
from db.session import create_engine


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
