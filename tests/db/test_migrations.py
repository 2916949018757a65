"""Migrations and models agree, and every migration can be undone and redone."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from db.migrate import alembic_config, upgrade_to_head
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
