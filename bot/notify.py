"""Telling organizers something: their channel if /setup named one, else the server owner by DM."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.limits import clip

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)


async def notify_organizers(
    bot: ChapterBot, guild_id: int, content: str, **kwargs: Any
) -> discord.Message | None:
    """Send ``content`` (and e.g. ``view=``, ``file=``); None if no organizer is reachable."""
    settings = await bot.services.guilds.get(guild_id)
    try:
        if settings.organizer_channel_id:
            channel = bot.get_partial_messageable(settings.organizer_channel_id, guild_id=guild_id)
            return await channel.send(clip(content), **kwargs)
        guild = bot.get_guild(guild_id)
        owner = guild.owner if guild else None
        if owner is not None:
            return await owner.send(clip(content), **kwargs)
    except discord.HTTPException:
        log.warning("could not notify organizers of guild %s", guild_id, exc_info=True)
        return None
    log.warning("guild %s has no organizer channel and no reachable owner", guild_id)
    return None
