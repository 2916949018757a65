"""Whether the bot can change a role, and, when it can't, a sentence naming what to fix.

Checked against the cache (``guild.me.guild_permissions`` and ``guild.me.top_role``) before a
request, so a missing permission or a role set too high becomes an instruction instead of a 403;
a 50013 Discord answers anyway (the cache was stale) is explained the same way.
"""

from __future__ import annotations

import discord

MISSING_PERMISSIONS = 50013
SETTINGS_PATH = "Server Settings → Roles"


def permission_name(flag: str) -> str:
    """``"manage_roles"`` → ``"Manage Roles"`` (as Discord's settings screen says it)."""
    special = {"view_channel": "View Channels", "manage_channels": "Manage Channels"}
    return special.get(flag, flag.replace("_", " ").title())


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


def cannot_manage(guild: discord.Guild, role: discord.Role) -> str | None:
    """Why the bot can't add/remove ``role`` right now, or None if it can."""
    me = guild.me
    if not me.guild_permissions.manage_roles:
        return missing_permission("manage_roles", f"give members the {role.name} role")
    if role >= me.top_role:
        return too_low(guild, role)
    return None


def refused(guild: discord.Guild, role: discord.Role, error: discord.Forbidden) -> str:
    """Discord refused a role change the cache said was fine: with Manage Roles in hand, 50013
    means the role sits above the bot's (moved since the cache was updated)."""
    if error.code == MISSING_PERMISSIONS and guild.me.guild_permissions.manage_roles:
        return too_low(guild, role) + " (Discord said: Missing Permissions.)"
    return forbidden(error, "manage_roles", f"change who has the {role.name} role")
