"""/setup and /about: per-guild configuration and a health card."""

from __future__ import annotations

import platform
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

import bot as bot_package
from bot.checks import organizer_only
from bot.client import ChapterBot
from bot.interactions import guild_of, logged_autocomplete
from bot.limits import fit_embed
from bot.services.guilds import GuildSettings, suggest_timezones


def describe_settings(settings: GuildSettings) -> str:
    channel = f"<#{settings.welcome_channel_id}>" if settings.welcome_channel_id else "not set"
    role = f"<@&{settings.organizer_role_id}>" if settings.organizer_role_id else "not set"
    organizers = (
        f"<#{settings.organizer_channel_id}>" if settings.organizer_channel_id else "not set"
    )
    return (
        f"**Welcome channel:** {channel}\n**Organizer role:** {role}\n"
        f"**Organizer channel:** {organizers}\n**Default timezone:** {settings.timezone}"
    )


def format_uptime(seconds: float) -> str:
    delta = timedelta(seconds=int(seconds))
    days, rest = divmod(int(delta.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m {secs}s"


class Admin(commands.Cog):
    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="setup",
        description="Organizers: set the welcome channel, organizer role and default timezone",
    )
    @app_commands.describe(
        welcome_channel="Where new members are welcomed",
        organizer_role="Members with this role can run organizer commands",
        timezone="Default IANA timezone for this server, e.g. America/Chicago",
        organizer_channel="Where the bot tells organizers about chapters and markers",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @organizer_only()
    async def setup_command(
        self,
        interaction: discord.Interaction[ChapterBot],
        welcome_channel: discord.TextChannel | None = None,
        organizer_role: discord.Role | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        organizer_channel: discord.TextChannel | None = None,
    ) -> None:
        guild = guild_of(interaction)
        if organizer_role is not None and organizer_role.is_default():
            await interaction.response.send_message(
                "@everyone can't be the organizer role. Pick a role only organizers have.",
                ephemeral=True,
            )
            return
        settings = await self.bot.services.guilds.setup(
            guild.id,
            welcome_channel_id=welcome_channel.id if welcome_channel else None,
            organizer_role_id=organizer_role.id if organizer_role else None,
            timezone=timezone,
            organizer_channel_id=organizer_channel.id if organizer_channel else None,
        )
        changed = any(
            v is not None for v in (welcome_channel, organizer_role, timezone, organizer_channel)
        )
        title = "Settings saved." if changed else "Current settings (pass options to change them):"
        await interaction.response.send_message(
            f"{title}\n{describe_settings(settings)}", ephemeral=True
        )

    @setup_command.autocomplete("timezone")
    @logged_autocomplete
    async def timezone_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in suggest_timezones(current)]

    @app_commands.command(name="about", description="What this bot is, its version and health")
    async def about(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild_id = interaction.guild.id if interaction.guild else None
        stats = await self.bot.services.stats.snapshot(guild_id)
        embed = discord.Embed(
            title="chapterbot",
            description="Helps scattered members form local chapters that meet, decide and grow.",
            colour=discord.Colour.blurple(),
        )
        embed.add_field(name="Version", value=bot_package.__version__)
        embed.add_field(name="Uptime", value=format_uptime(self.bot.uptime_seconds))
        embed.add_field(name="Database", value=self.bot.services.database_backend)
        embed.add_field(name="Servers", value=str(len(self.bot.guilds)))
        embed.add_field(name="Configured servers", value=str(stats.configured_guilds))
        embed.add_field(name="Pending timers", value=str(stats.pending_timers))
        # timers that failed after every retry: the one health figure an operator must act on
        embed.add_field(name="Failed timers", value=str(stats.failed_timers))
        for label, value in stats.extra:
            embed.add_field(name=label, value=value)
        embed.set_footer(
            text=f"discord.py {discord.__version__} · Python {platform.python_version()}"
        )
        await interaction.response.send_message(embed=fit_embed(embed), ephemeral=True)


async def setup(bot: ChapterBot) -> None:
    await bot.add_cog(Admin(bot))
