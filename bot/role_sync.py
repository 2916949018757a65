"""Chapter roles on Discord converge to the chapters' members in the database.

Reads who holds each chapter role from the cache (complete only once the guild is chunked) and
lets the chapter service write the grants and removals that close the gap, as effects. Run at
start-up and after each new gateway session (the member reconcile), daily (the chapter
evaluation), and on demand (``/chapter provision``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.services.chapters.discord_sync import RoleSync

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)


async def sync_chapter_roles(
    bot: ChapterBot, guild: discord.Guild, *, chapter_id: int | None = None
) -> list[RoleSync] | None:
    """Write what makes role holders equal members; None if the member list is incomplete
    (a partial list would take roles from real members)."""
    if not guild.chunked:
        log.warning("member list of guild %s incomplete; chapter roles not reconciled", guild.id)
        return None
    holders: dict[int, set[int]] = {}
    for role_id, owner in (await bot.services.chapters.chapter_role_ids(guild.id)).items():
        role = guild.get_role(role_id)
        if role is not None and (chapter_id is None or owner == chapter_id):
            holders[role_id] = {m.id for m in role.members if not m.bot}
    present = [m.id for m in guild.members if not m.bot]
    syncs = await bot.services.chapters.sync_roles(
        guild.id, present, holders, chapter_id=chapter_id
    )
    changed = [s for s in syncs if s.granted or s.removed]
    if changed:
        log.info(
            "guild %s: chapter roles reconciled: %d to give, %d to take back",
            guild.id,
            sum(len(s.granted) for s in changed),
            sum(len(s.removed) for s in changed),
        )
    return syncs
