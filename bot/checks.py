"""Organizer-only checks enforced by the bot itself.

``default_member_permissions`` is only a default that server admins can override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

from bot.interactions import UserFacingCheckFailure
from bot.services.guilds import GuildSettings

if TYPE_CHECKING:
    from bot.client import ChapterBot

NOT_ORGANIZER = (
    "Only organizers can do this. Ask a server admin for the organizer role "
    "(set with /setup organizer_role)."
)


def is_organizer(member: discord.Member, settings: GuildSettings) -> bool:
    """Server owner, admins and Manage Server holders always count; so does the organizer role."""
    if member.guild.owner_id == member.id:
        return True
    perms = member.guild_permissions
    if perms.administrator or perms.manage_guild:
        return True
    return settings.organizer_role_id is not None and any(
        role.id == settings.organizer_role_id for role in member.roles
    )


async def member_is_organizer(bot: ChapterBot, member: discord.Member) -> bool:
    """``is_organizer`` with the guild's settings looked up."""
    return is_organizer(member, await bot.services.guilds.get(member.guild.id))


async def ensure_organizer(interaction: discord.Interaction[ChapterBot]) -> None:
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        raise app_commands.NoPrivateMessage()
    if not await member_is_organizer(interaction.client, interaction.user):
        raise UserFacingCheckFailure(NOT_ORGANIZER)


T = TypeVar("T")


def organizer_only() -> Callable[[T], T]:
    """Decorator for app commands that only organizers may run."""

    async def predicate(interaction: discord.Interaction[ChapterBot]) -> bool:
        await ensure_organizer(interaction)
        return True

    return app_commands.check(predicate)
