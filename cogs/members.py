"""Member events have one owner: a member joins or leaves, a guild becomes available or is joined
(the reconcile after downtime: a fresh IDENTIFY replays no missed joins or leaves).

Each event runs its steps in a fixed order under one lock per guild, so a join that arrives while
a reconcile is under way waits for it instead of being undone by its stale member list. Features
that act on these events add a step here (calling their service), never a listener of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

import discord
from discord.ext import commands

from bot.client import ChapterBot
from bot.notify import announce_chapter_transitions
from bot.role_sync import sync_chapter_roles
from bot.services.chapters import Transition
from bot.services.members import MemberSnapshot
from bot.welcome_buttons import start_components

log = logging.getLogger(__name__)


class MemberEvents(commands.Cog):
    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def guild_lock(self, guild_id: int) -> asyncio.Lock:
        """Held while any member event of this guild runs its steps."""
        return self._locks[guild_id]

    def _announce(self, transitions: Sequence[Transition]) -> None:
        """Chapter status changes are announced by the chapters cog, after the lock is released."""
        announce_chapter_transitions(self.bot, transitions)

    # ------------------------------------------------------------------ join

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """On join, in this order:

        1. record the member (``members.member_joined``; a returning member keeps their city);
        2. welcome them (``welcome.newcomer_joined``): the welcome post and DM with a Start
           button, the newcomer role, a welcomer and the follow-up timer, written as effects
           and a timer in one transaction (a replayed join is welcomed once).
        """
        if member.bot:
            return
        guild = member.guild
        async with self.guild_lock(guild.id):
            await self.bot.services.members.member_joined(
                guild.id, member.id, member.joined_at, member.display_name
            )
            await self.bot.services.welcome.newcomer_joined(
                guild.id,
                member.id,
                server_name=discord.utils.escape_markdown(guild.name),
                start_components=start_components(guild.id),
            )

    # ------------------------------------------------------------------ leave

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """On leave (raw, so members missing from the cache count too), in this order:

        1. record the leave (``members.member_left``);
        2. take the member out of every chapter (``chapters.remove_member_everywhere``), which
           may change a chapter's status: announced after the lock is released.
        """
        if payload.user.bot:
            return
        guild_id, user_id = payload.guild_id, payload.user.id
        async with self.guild_lock(guild_id):
            await self.bot.services.members.member_left(guild_id, user_id)
            changes = await self.bot.services.chapters.remove_member_everywhere(guild_id, user_id)
        self._announce([t for change in changes for t in change.transitions])

    # ------------------------------------------------------------------ reconcile

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.reconcile(guild)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.reconcile(guild)

    async def reconcile(self, guild: discord.Guild) -> None:
        """Make the records match the guild's member list, in this order:

        1. ask Discord for the member list if the cache lacks it (a large guild arrives with
           only the bot's member); without a complete list nothing is reconciled, since a
           partial one would mark real members as gone;
        2. members (``members.reconcile``): add the unknown, bring back the returned, mark the
           absent as gone;
        3. chapters (``chapters.remove_absent_members``): members who left while the bot was
           away leave their chapters (announced after the lock is released);
        4. chapter roles (``bot.role_sync``): each chapter role's holders converge to the
           chapter's members (grants and removals written as effects), whatever was missed.
        """
        async with self.guild_lock(guild.id):
            if not guild.chunked:
                try:
                    await guild.chunk()
                except (discord.HTTPException, discord.ClientException, TimeoutError):
                    log.warning("could not fetch the members of guild %s", guild.id, exc_info=True)
            if not guild.chunked:
                log.warning("member list of guild %s incomplete; not reconciling", guild.id)
                return
            present = list(guild.members)
            result = await self.bot.services.members.reconcile(
                guild.id,
                [MemberSnapshot(m.id, m.joined_at, m.display_name, bot=m.bot) for m in present],
            )
            changes = await self.bot.services.chapters.remove_absent_members(
                guild.id, [m.id for m in present]
            )
            await sync_chapter_roles(self.bot, guild)
        log.info(
            "reconciled members of guild %s: %d added, %d back, %d left, %d unchanged; "
            "%d chapter membership(s) of departed members removed",
            guild.id,
            result.added,
            result.returned,
            result.left,
            result.unchanged,
            len(changes),
        )
        self._announce([t for change in changes for t in change.transitions])


async def setup(bot: ChapterBot) -> None:
    await bot.add_cog(MemberEvents(bot))
