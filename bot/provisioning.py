"""A chapter's Discord side: its role and private channel, and members' roles; and the
propose → provision → tell-organizers sequence that /chapter propose and the welcome's "Start a
chapter here" share (cogs never import each other, so it lives here).

Every Discord call is checked first against what the bot can do (``guild.me.guild_permissions``
and ``guild.me.top_role``), so a missing permission or a role too low becomes a sentence naming
what to fix instead of a 403; ``discord.Forbidden`` is still handled in case the cache was stale.
The chapter stays recorded whatever happens here: ``/chapter provision`` retries. Members' roles
are not changed here but reconciled through the effects outbox (``bot.role_sync``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord

from bot.limits import clip
from bot.notify import notify_organizers
from bot.role_checks import cannot_manage, forbidden, missing_permission
from bot.role_sync import sync_chapter_roles
from bot.services.chapters import ChapterSummary
from bot.services.effects import EffectStatus, role_subject
from bot.text import bullets, esc

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)

# what the chapter role may do in its channel, and what the bot keeps for itself
MEMBER_CHANNEL_PERMS = ("view_channel", "send_messages", "read_message_history")
BOT_CHANNEL_PERMS = (
    "view_channel",
    "send_messages",
    "read_message_history",
    "embed_links",
    "attach_files",
    "manage_channels",
    "manage_messages",
)
#: The persistent Join button under a proposal (answered by the chapters cog).
JOIN_TEMPLATE = r"chapter:join:(?P<id>[0-9]{1,20})"
_SLUG_DROP = re.compile(r"[^\w-]+")
_DASHES = re.compile(r"-{2,}")


def join_custom_id(chapter_id: int) -> str:
    return f"chapter:join:{chapter_id}"


def channel_slug(name: str, fallback: str = "chapter") -> str:
    """A Discord text channel name: lowercase, no spaces or punctuation, at most 100 chars."""
    text = unicodedata.normalize("NFKC", name).lower().replace("_", "-")
    text = re.sub(r"\s+", "-", text)
    text = _SLUG_DROP.sub("", text).replace("_", "-")
    text = _DASHES.sub("-", text).strip("-")[:100].strip("-")
    return text or fallback


@dataclass
class ProvisionReport:
    role: discord.Role | None = None
    channel: discord.TextChannel | None = None
    created: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: what reconciling the members' roles did
    roles: str = ""


class Provisioner:
    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    async def ensure(self, guild: discord.Guild, chapter: ChapterSummary) -> ProvisionReport:
        """Create whatever of the role and channel is missing and give the role to every member.
        Safe to repeat."""
        report = ProvisionReport()
        me = guild.me
        perms = me.guild_permissions
        reason = f"chapterbot: provisioning chapter {chapter.id}"

        role = guild.get_role(chapter.role_id) if chapter.role_id else None
        if chapter.role_id and role is None:
            await self.bot.services.chapters.forget_discord(guild.id, chapter.id, role=True)
        if role is None:
            if not perms.manage_roles:
                report.problems.append(
                    missing_permission("manage_roles", "create the chapter's role")
                )
            else:
                try:
                    role = await guild.create_role(
                        name=chapter.name[:100], mentionable=False, hoist=False, reason=reason
                    )
                except discord.Forbidden as error:
                    report.problems.append(
                        forbidden(error, "manage_roles", "create the chapter's role")
                    )
                else:
                    report.created.append(f"role {role.mention}")
                    await self.bot.services.chapters.record_provisioning(
                        guild.id, chapter.id, role_id=role.id
                    )
        report.role = role

        channel = guild.get_channel(chapter.channel_id) if chapter.channel_id else None
        if chapter.channel_id and not isinstance(channel, discord.TextChannel):
            await self.bot.services.chapters.forget_discord(guild.id, chapter.id, channel=True)
            channel = None
        if isinstance(channel, discord.TextChannel):
            if role is not None and role not in channel.overwrites:
                await self._let_role_in(channel, role, report, reason)
        else:
            channel = await self._create_channel(guild, chapter, role, report, reason)
        report.channel = channel

        if role is not None:
            problem = cannot_manage(guild, role)
            if problem is not None:
                report.problems.append(problem)
            else:
                report.roles = await self.sync_roles(guild, role, chapter.id)
        return report

    async def _create_channel(
        self,
        guild: discord.Guild,
        chapter: ChapterSummary,
        role: discord.Role | None,
        report: ProvisionReport,
        reason: str,
    ) -> discord.TextChannel | None:
        me = guild.me
        perms = me.guild_permissions
        if not perms.manage_channels:
            report.problems.append(
                missing_permission("manage_channels", "create the chapter's private channel")
            )
            return None
        lacking = [
            flag
            for flag in MEMBER_CHANNEL_PERMS
            if not perms.administrator and not getattr(perms, flag)
        ]
        if lacking:
            report.problems.append(
                missing_permission(lacking[0], "let chapter members see their private channel")
            )
            return None
        settings = await self.bot.services.chapter_settings.get(guild.id)
        category = guild.get_channel(settings.category_id) if settings.category_id else None
        if settings.category_id and not isinstance(category, discord.CategoryChannel):
            report.problems.append(
                "The chapter category set with /chapter criteria no longer exists; I created the "
                "channel outside any category. Set a new one with /chapter criteria category."
            )
            category = None
        bot_allowed = {
            flag: True for flag in BOT_CHANNEL_PERMS if perms.administrator or getattr(perms, flag)
        }
        overwrites: dict[
            discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite
        ]
        overwrites = {
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            me: discord.PermissionOverwrite(**bot_allowed),
        }
        if role is not None:
            overwrites[role] = discord.PermissionOverwrite(
                **dict.fromkeys(MEMBER_CHANNEL_PERMS, True)
            )
        try:
            channel = await guild.create_text_channel(
                channel_slug(chapter.name, f"chapter-{chapter.id}"),
                overwrites=overwrites,
                category=category if isinstance(category, discord.CategoryChannel) else None,
                topic=f"{chapter.name} · {chapter.city_label} · /chapter info"[:1024],
                reason=reason,
            )
        except discord.Forbidden as error:
            report.problems.append(
                forbidden(error, "manage_channels", "create the chapter's private channel")
            )
            return None
        report.created.append(f"channel {channel.mention}")
        await self.bot.services.chapters.record_provisioning(
            guild.id, chapter.id, channel_id=channel.id
        )
        return channel

    async def _let_role_in(
        self,
        channel: discord.TextChannel,
        role: discord.Role,
        report: ProvisionReport,
        reason: str,
    ) -> None:
        perms = channel.guild.me.guild_permissions
        if not (perms.administrator or perms.manage_roles):
            report.problems.append(
                missing_permission("manage_roles", f"let {role.name} into {channel.mention}")
            )
            return
        try:
            await channel.set_permissions(
                role,
                overwrite=discord.PermissionOverwrite(**dict.fromkeys(MEMBER_CHANNEL_PERMS, True)),
                reason=reason,
            )
        except discord.Forbidden as error:
            report.problems.append(
                forbidden(error, "manage_roles", f"let {role.name} into {channel.mention}")
            )

    async def sync_roles(self, guild: discord.Guild, role: discord.Role, chapter_id: int) -> str:
        """Make the role's holders equal the chapter's members (grants and removals through the
        outbox), wait briefly for Discord, and say what happened."""
        syncs = await sync_chapter_roles(self.bot, guild, chapter_id=chapter_id)
        if syncs is None:
            return "I couldn't read the server's member list, so members' roles were not checked."
        sync = next((s for s in syncs if s.chapter_id == chapter_id), None)
        if sync is None or not (sync.granted or sync.removed):
            return "Every member has the role, and nobody else."
        subjects = [role_subject(guild.id, u, role.id) for u in (*sync.granted, *sync.removed)]
        statuses = await self.bot.effects_worker.wait_settled(subjects, timeout=3.0)
        waiting = sum(1 for s in statuses.values() if s == EffectStatus.PENDING)
        failed = sum(1 for s in statuses.values() if s == EffectStatus.FAILED)
        text = (
            f"Roles: {len(sync.granted)} member(s) to give it to, "
            f"{len(sync.removed)} non-member(s) to take it from"
        )
        if failed:
            return f"{text}; {failed} failed (organizers have been told why)."
        if waiting:
            return f"{text}; {waiting} still on their way (Discord is slow; they'll follow)."
        return f"{text}: done."


async def provision(
    bot: ChapterBot, guild: discord.Guild, chapter: ChapterSummary
) -> ProvisionReport:
    """``Provisioner.ensure``, with an unexpected Discord error turned into a problem to report."""
    try:
        return await Provisioner(bot).ensure(guild, chapter)
    except discord.HTTPException as error:
        log.warning("provisioning chapter %s failed", chapter.id, exc_info=True)
        report = ProvisionReport()
        report.problems.append(
            f"Discord answered {error.status} while I set it up ({error.text[:100]})."
        )
        return report


async def tell_organizers_about(
    bot: ChapterBot, guild: discord.Guild, chapter: ChapterSummary, problems: Sequence[str]
) -> str:
    text = (
        f"**{esc(chapter.name)}** is recorded, but its Discord setup is incomplete:\n"
        + bullets(problems)
        + f"\nOnce fixed, run /chapter provision chapter:{esc(chapter.name)}"
    )
    await notify_organizers(bot, guild.id, text)
    return text


@dataclass(frozen=True)
class Proposal:
    chapter: ChapterSummary
    report: ProvisionReport
    #: the public announcement, sent with ``join_custom_id(chapter.id)``'s button
    announcement: str
    #: for the proposer alone, when the Discord side is incomplete (organizers were told)
    problems: str | None


async def propose_and_provision(
    bot: ChapterBot,
    guild: discord.Guild,
    member: discord.abc.User,
    city: str,
    name: str | None = None,
    *,
    before_provisioning: Callable[[], Awaitable[None]] | None = None,
) -> Proposal:
    """Record the proposal, create its role and private channel, tell organizers what failed.
    ``before_provisioning`` runs once the proposal is valid (to defer the interaction: Discord
    calls follow)."""
    chapter = await bot.services.chapters.propose(guild.id, member.id, city, name)
    if before_provisioning is not None:
        await before_provisioning()
    report = await provision(bot, guild, chapter)
    where = f" Its channel: {report.channel.mention}." if report.channel else ""
    announcement = (
        f"🌱 {member.mention} proposed **{esc(chapter.name)}** in {esc(chapter.city_label)}."
        f" It becomes a formal chapter once it meets the criteria (see /chapter info)."
        f"{where} Join with the button or /chapter join."
    )
    problems = None
    if report.problems:
        await tell_organizers_about(bot, guild, chapter, report.problems)
        problems = clip(
            "The chapter is recorded, but I couldn't finish its Discord role and channel:\n"
            + bullets(report.problems)
            + "\nOrganizers have been told; they can retry with /chapter provision."
        )
    return Proposal(chapter, report, announcement, problems)
