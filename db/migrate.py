"""Bring a database to the latest Alembic revision (run at startup and by tests).

Alembic (with Mako, about 11 MB resident) is imported only when a migration is due: a start
against an up-to-date database reads the newest revision from the migration files, compares it
with the one the database records, and stops there.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.session import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
VERSIONS_DIR = ALEMBIC_INI.parent / "migrations" / "versions"

_REVISION = re.compile(r"^revision(?:\s*:[^=\n]*)?\s*=\s*(.*)$", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=\n]*)?\s*=\s*(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head_sync(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest revision, read from the migration files without Alembic.

    ``None`` when the files do not read plainly (a file without exactly one ``revision`` and one
    ``down_revision`` line, or not exactly one head): then Alembic decides.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    files = sorted(VERSIONS_DIR.glob("*.py"))
    for path in files:
        source = path.read_text(encoding="utf-8")
        revision, down_revision = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down_revision) != 1:
            return None
        names = _QUOTED.findall(revision[0])
        if len(names) != 1:
            return None
        revisions.add(names[0])
        parents.update(_QUOTED.findall(down_revision[0]))
    heads = revisions - parents
    if len(revisions) != len(files) or len(heads) != 1:
        return None
    return heads.pop()


async def recorded_revisions(url: str) -> set[str]:
    """The revisions the database says it is at (none for a new database)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return {str(version) for (version,) in rows}
    except DBAPIError:  # no alembic_version table yet
        return set()
    finally:
        await engine.dispose()


async def upgrade_to_head(url: str) -> None:
    """Migrate to the newest revision, unless the database is already there.

    Alembic's async env.py runs its own event loop, so it gets a thread of its own.
    """
    head = head_revision()
    if head is not None and await recorded_revisions(url) == {head}:
        return
    await asyncio.to_thread(upgrade_to_head_sync, url)
