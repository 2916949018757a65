"""Votes and elections: /vote create, contingency, election, nominate, add-voter, extend,
close, outcome, list, show and quick; reaction and component ballots; results at the close."""

from __future__ import annotations

from bot.client import ChapterBot
from cogs.votes._cog import Votes
from cogs.votes._views import DYNAMIC_ITEMS


async def setup(bot: ChapterBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Votes(bot))


async def teardown(bot: ChapterBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
