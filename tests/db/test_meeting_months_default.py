"""Migration 0005: a stored copy of the old meeting default becomes the default (NULL)."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text

from db.migrate import alembic_config, upgrade_to_head
from db.session import create_engine

INSERT = text(
    "INSERT INTO chapter_settings (guild_id, min_members, meeting_months, require_agreements,"
    " key_roles, map_min_members, marker_lead_days, updated_at)"
    " VALUES (:guild, 5, :months, 1, 'facilitator', 5, 90, '2026-11-01 00:00:00.000000')"
)


async def test_the_old_default_follows_the_default_and_other_choices_stay(
    database_url: str,
) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "0004")
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for guild, months in ((1, 1), (2, 3), (3, 0)):
            await conn.execute(INSERT, {"guild": guild, "months": months})
    await upgrade_to_head(database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT guild_id, meeting_months FROM chapter_settings ORDER BY guild_id")
        )
        assert rows.all() == [(1, None), (2, 3), (3, 0)]
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0004")
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT guild_id, meeting_months FROM chapter_settings ORDER BY guild_id")
        )
        assert rows.all() == [(1, 1), (2, 3), (3, 0)]
    await engine.dispose()
