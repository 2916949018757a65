"""Saying things in a server: to organizers (their channel if /setup named one, else the server
owner by DM), in a channel, and announcing chapter status changes through the one announcer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.limits import clip

if TYPE_CHECKING:
    from bot.client import ChapterBot
    from bot.services.chapters import Transition

log = logging.getLogger(__name__)

#: Dispatched with a list of chapter ``Transition``s; the chapters cog announces them (its
#: channel and organizers), whichever feature caused them.
CHAPTER_TRANSITIONS_EVENT = "chapter_transitions"


def announce_chapter_transitions(bot: ChapterBot, transitions: Sequence[Transition]) -> None:
    """Hand status changes to the chapters cog's announcer (cogs never call each other)."""
    if transitions:
        bot.dispatch(CHAPTER_TRANSITIONS_EVENT, list(transitions))


async def post_in_channel(
    bot: ChapterBot, channel_id: int | None, guild_id: int, content: str, **kwargs: Any
) -> discord.Message | None:
    """Post ``content`` (and e.g. ``view=``) in a channel; None if there is none or Discord
    refused (logged: a post that fails never fails the command that caused it)."""
    if not channel_id:
        return None
    channel = bot.get_partial_messageable(channel_id, guild_id=guild_id)
    try:
        return await channel.send(clip(content), **kwargs)
    except discord.HTTPException:
        log.warning("could not post in channel %s", channel_id, exc_info=True)
        return None


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
