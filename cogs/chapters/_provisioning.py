"""A chapter's Discord side: its role and private channel, and members' roles.

Every Discord call is checked first against what the bot can do (``guild.me.guild_permissions``
and ``guild.me.top_role``), so a missing permission or a role too low becomes a sentence naming
what to fix instead of a 403; ``discord.Forbidden`` is still handled in case the cache was stale.
The chapter stays recorded whatever happens here: ``/chapter provision`` retries.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord

from bot.services.chapters import ChapterSummary

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)

MISSING_PERMISSIONS = 50013
SETTINGS_PATH = "Server Settings → Roles"

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
_SLUG_DROP = re.compile(r"[^\w-]+")
_DASHES = re.compile(r"-{2,}")


def permission_name(flag: str) -> str:
    """``"manage_roles"`` → ``"Manage Roles"`` (as Discord's settings screen says it)."""
    special = {"view_channel": "View Channels", "manage_channels": "Manage Channels"}
    return special.get(flag, flag.replace("_", " ").title())


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


def too_low(guild: discord.Guild, role: discord.Role) -> str:
    bot_role = guild.me.top_role
    bot_name = bot_role.name if not bot_role.is_default() else "chapterbot"
    return (
        f"My role is below **{discord.utils.escape_markdown(role.name)}**, so I can't give it "
        f"to members: drag the **{discord.utils.escape_markdown(bot_name)}** role above "
        f"**{discord.utils.escape_markdown(role.name)}** in {SETTINGS_PATH}."
    )


def missing_permission(flag: str, purpose: str) -> str:
    return (
        f"I need the **{permission_name(flag)}** permission to {purpose}: give it to my role "
        f"in {SETTINGS_PATH}."
    )


def forbidden(error: discord.Forbidden, flag: str, purpose: str) -> str:
    if error.code == MISSING_PERMISSIONS:
        return missing_permission(flag, purpose) + " (Discord said: Missing Permissions.)"
    return f"Discord refused to let me {purpose} ({error.status} {error.code}: {error.text[:100]})."


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
            members = (await self.bot.services.chapters.details(guild.id, chapter.id)).members
            problems = await self.add_role(guild, role, [m.user_id for m in members])
            report.problems.extend(problems)
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

    def can_manage(self, guild: discord.Guild, role: discord.Role) -> str | None:
        """Why the bot can't add/remove ``role`` right now, or None if it can."""
        me = guild.me
        if not me.guild_permissions.manage_roles:
            return missing_permission("manage_roles", f"give members the {role.name} role")
        if role >= me.top_role:
            return too_low(guild, role)
        return None

    async def _member(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            return None

    async def add_role(
        self, guild: discord.Guild, role: discord.Role, user_ids: list[int]
    ) -> list[str]:
        """Give ``role`` to these members (skipping those who have it); problems, if any."""
        problem = self.can_manage(guild, role)
        if problem is not None:
            return [problem]
        for user_id in user_ids:
            member = await self._member(guild, user_id)
            if member is None or role in member.roles:
                continue
            try:
                await member.add_roles(role, reason="chapterbot: joined the chapter")
            except discord.Forbidden as error:
                return [self._refused(guild, role, error, f"give members the {role.name} role")]
        return []

    @staticmethod
    def _refused(
        guild: discord.Guild, role: discord.Role, error: discord.Forbidden, purpose: str
    ) -> str:
        """Discord refused a role change the cache said was fine: with Manage Roles in hand,
        50013 means the role sits above the bot's (moved since the cache was updated)."""
        if error.code == MISSING_PERMISSIONS and guild.me.guild_permissions.manage_roles:
            return too_low(guild, role) + " (Discord said: Missing Permissions.)"
        return forbidden(error, "manage_roles", purpose)

    async def remove_role(
        self, guild: discord.Guild, role: discord.Role, user_id: int
    ) -> list[str]:
        problem = self.can_manage(guild, role)
        if problem is not None:
            return [problem]
        member = await self._member(guild, user_id)
        if member is None or role not in member.roles:
            return []
        try:
            await member.remove_roles(role, reason="chapterbot: left the chapter")
        except discord.Forbidden as error:
            return [self._refused(guild, role, error, f"take the {role.name} role back")]
        return []
