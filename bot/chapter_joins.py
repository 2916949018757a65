"""Joining a chapter from Discord, shared by /chapter join, its Join button and the welcome's
one-click Join (cogs never import each other): the membership is saved, the role is written to
the outbox with it, and the member is told where the role stands; a member who lost the role
gets it again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.errors import Conflict
from bot.limits import clip
from bot.provisioning import tell_organizers_about
from bot.services.chapters import ChapterSummary, Transition
from bot.services.effects import EffectStatus, role_subject
from bot.text import esc

if TYPE_CHECKING:
    from bot.client import ChapterBot


def chapter_role(guild: discord.Guild, chapter: ChapterSummary) -> discord.Role | None:
    return guild.get_role(chapter.role_id) if chapter.role_id else None


async def join_and_reply(
    interaction: discord.Interaction[ChapterBot],
    guild: discord.Guild,
    member: discord.Member,
    chapter_id: int,
) -> Sequence[Transition]:
    """Join, answer the member (ephemeral), and return the status changes to announce."""
    bot = interaction.client
    chapters = bot.services.chapters
    try:
        change = await chapters.join(guild.id, chapter_id, member.id)
    except Conflict:
        # already a member: one without the role (Discord failed, or it was taken away by
        # hand) gets it again; otherwise "already a member" is the answer
        current = await chapters.get(guild.id, chapter_id)
        role = chapter_role(guild, current)
        if role is None or role in member.roles:
            raise
        chapter = await chapters.reapply_role(guild.id, chapter_id, member.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await role_status(bot, guild, chapter, member.id)
        news = "it's on its way (Discord is slow right now)."
        if status == EffectStatus.APPLIED:
            news = "it's back."
        elif status == EffectStatus.FAILED:
            news = "I couldn't give it back yet; organizers have been told."
        await interaction.followup.send(
            f"You're already a member of **{esc(chapter.name)}**, but you didn't have its "
            f"role: {news}",
            ephemeral=True,
        )
        return ()
    chapter = change.chapter
    await interaction.response.defer(ephemeral=True, thinking=True)
    text = f"Welcome to **{esc(chapter.name)}**! It has {chapter.member_count} members now."
    if chapter_role(guild, chapter) is None:
        if chapter.channel_id:
            text += f" Say hello in <#{chapter.channel_id}>."
        await tell_organizers_about(bot, guild, chapter, ["The chapter has no Discord role yet."])
        text += (
            "\nThe chapter has no Discord role yet, so you may not see its channel; "
            "organizers have been told."
        )
    else:
        text += " " + await role_arrival(bot, guild, chapter, member.id)
    await interaction.followup.send(clip(text), ephemeral=True)
    return change.transitions


async def role_status(
    bot: ChapterBot, guild: discord.Guild, chapter: ChapterSummary, user_id: int
) -> EffectStatus | None:
    """Where the member's latest role change stands, after waiting a moment for Discord."""
    assert chapter.role_id is not None
    subject = role_subject(guild.id, user_id, chapter.role_id)
    return (await bot.effects_worker.wait_settled([subject]))[subject]


async def role_arrival(
    bot: ChapterBot, guild: discord.Guild, chapter: ChapterSummary, user_id: int
) -> str:
    """Wait a moment for the member's role grant, then say where it stands: the membership
    is saved whatever Discord does, so this is news, never an apology."""
    status = await role_status(bot, guild, chapter, user_id)
    where = f" <#{chapter.channel_id}>" if chapter.channel_id else " the chapter's channel"
    if status == EffectStatus.APPLIED:
        return f"Say hello in{where}." if chapter.channel_id else "You have its role now."
    if status == EffectStatus.FAILED:
        return (
            "I couldn't give you the chapter role yet, so you may not see its channel; "
            "organizers have been told and will fix it."
        )
    return f"Your role is on its way (Discord is slow right now); with it you'll see{where}."
