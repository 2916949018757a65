"""Bring a database to the latest Alembic revision (run at startup and by tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head_sync(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def upgrade_to_head(url: str) -> None:
    """Alembic's async env.py runs its own event loop, so it gets a thread of its own."""
    await asyncio.to_thread(upgrade_to_head_sync, url)
