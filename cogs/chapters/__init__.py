"""Chapters: /chapter propose, join, leave, info, list, roles, agreements, map, and organizer
commands; provisioning of each chapter's Discord role and private channel; the daily evaluation
of every chapter's status."""

from __future__ import annotations

from bot.client import ChapterBot
from cogs.chapters._cog import Chapters
from cogs.chapters._views import JoinChapterButton


async def setup(bot: ChapterBot) -> None:
    bot.add_dynamic_items(JoinChapterButton)
    await bot.add_cog(Chapters(bot))


async def teardown(bot: ChapterBot) -> None:
    bot.remove_dynamic_items(JoinChapterButton)
