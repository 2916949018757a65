"""/affiliate register|list|remove: organizations that share the values and work with the
organization without meeting chapter requirements (counted separately, never as chapters)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import organizer_only
from bot.choices import city_choices
from bot.client import ChapterBot
from bot.interactions import guild_of, logged_autocomplete
from bot.limits import EMBED_DESCRIPTION_MAX, clip, fit_choices, fit_embed, join_lines
from bot.services.affiliates import AffiliateSummary
from bot.text import esc

MAX_DESCRIPTION_SHOWN = 200


def affiliate_line(affiliate: AffiliateSummary) -> str:
    parts = [f"**{esc(affiliate.name)}**"]
    if affiliate.city_label:
        parts.append(affiliate.city_label)
    if affiliate.url:
        parts.append(f"<{affiliate.url}>")
    line = " · ".join(parts)
    if affiliate.description:
        text = affiliate.description.replace("\n", " ")
        if len(text) > MAX_DESCRIPTION_SHOWN:
            text = text[: MAX_DESCRIPTION_SHOWN - 1] + "…"
        line += f"\n{esc(text)}"
    return line


def list_text(affiliates: list[AffiliateSummary], max_chars: int = EMBED_DESCRIPTION_MAX) -> str:
    return join_lines([affiliate_line(a) for a in affiliates], max_chars, sep="\n\n")


class Affiliates(commands.Cog):
    affiliate = app_commands.Group(
        name="affiliate",
        description="Organizations that work with us without being chapters",
        guild_only=True,
    )

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    @affiliate.command(name="register", description="Organizers: register an affiliate")
    @app_commands.describe(
        name="The organization's name",
        city="Where it is based (start typing, then pick)",
        url="Its web site, like https://example.org",
        description="What it does, in a sentence or two",
    )
    @organizer_only()
    async def register(
        self,
        interaction: discord.Interaction[ChapterBot],
        name: app_commands.Range[str, 1, 100],
        city: app_commands.Range[str, 1, 200] | None = None,
        url: app_commands.Range[str, 1, 300] | None = None,
        description: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        guild = guild_of(interaction)
        view = await self.bot.services.affiliates.register(
            guild.id,
            interaction.user.id,
            name,
            city=city,
            url=url,
            description=description,
        )
        await interaction.response.send_message(
            clip(
                f"Registered the affiliate:\n{affiliate_line(view)}\n"
                "Affiliates are counted separately, never as chapters."
            ),
            ephemeral=True,
        )

    @register.autocomplete("city")
    @logged_autocomplete
    async def city_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return city_choices(self.bot.services.places, current)

    @affiliate.command(name="list", description="The organization's affiliates")
    async def list_command(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        affiliates = await self.bot.services.affiliates.list_active(guild.id)
        if not affiliates:
            await interaction.response.send_message(
                "No affiliates yet. Organizers register them with /affiliate register.",
                ephemeral=True,
            )
            return
        embed = discord.Embed(
            title=f"Affiliates ({len(affiliates)})",
            description=list_text(affiliates),
            colour=discord.Colour.green(),
        )
        embed.set_footer(text="Affiliates work with us without being chapters.")
        await interaction.response.send_message(embed=fit_embed(embed), ephemeral=True)

    @affiliate.command(name="remove", description="Organizers: remove an affiliate")
    @app_commands.describe(name="The affiliate's name")
    @organizer_only()
    async def remove(
        self, interaction: discord.Interaction[ChapterBot], name: app_commands.Range[str, 1, 100]
    ) -> None:
        guild = guild_of(interaction)
        view = await self.bot.services.affiliates.remove(guild.id, name)
        await interaction.response.send_message(
            f"Removed the affiliate **{esc(view.name)}** (its record is kept).", ephemeral=True
        )

    @remove.autocomplete("name")
    @logged_autocomplete
    async def name_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        names = await self.bot.services.affiliates.suggest(interaction.guild.id, current)
        return fit_choices([app_commands.Choice(name=n, value=n) for n in names])


async def setup(bot: ChapterBot) -> None:
    await bot.add_cog(Affiliates(bot))
