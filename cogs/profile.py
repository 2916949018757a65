"""/profile city|show|clear: where a member lives (joins and leaves are recorded by
``cogs/members.py``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.choices import city_choices
from bot.client import ChapterBot
from bot.interactions import (
    ErrorHandlingItem,
    ErrorHandlingView,
    guild_of,
    logged_autocomplete,
)
from bot.limits import clip, fit_options
from bot.services.members import ProfileSummary
from bot.services.places import AmbiguousPlace, Place, PlaceNotFound
from bot.services.welcome import OnboardingSummary
from bot.text import esc, timestamp

log = logging.getLogger(__name__)


def saved_text(view: ProfileSummary) -> str:
    return (
        f"Saved: you live in **{view.city_label}** (time zone {view.timezone}). "
        "Change it any time with /profile city, or forget it with /profile clear."
    )


def profile_text(view: ProfileSummary | None) -> str:
    if view is None or not view.has_city:
        since = f"\nMember since: {timestamp(view.joined_at, 'D')}" if view is not None else ""
        return (
            "You haven't said where you live yet. Use /profile city and pick your city "
            f"from the suggestions, so members nearby can find each other.{since}"
        )
    return (
        f"**Your profile**\nCity: {view.city_label}\nTime zone: {view.timezone}\n"
        f"Member since: {timestamp(view.joined_at, 'D')}\n"
        "Change it with /profile city, forget it with /profile clear."
    )


def onboarding_text(answers: OnboardingSummary | None) -> str:
    """What the member answered when welcomed (edited with /welcome start)."""
    if answers is None:
        return ""
    lines = []
    if answers.why_joined:
        lines.append(f"Why you joined: {esc(clip(answers.why_joined, 300))}")
    if answers.what_we_could_do:
        lines.append(f"What we could do: {esc(clip(answers.what_we_could_do, 300))}")
    if answers.intro_opt_in is not None:
        lines.append(f"Introductions to members nearby: {'yes' if answers.intro_opt_in else 'no'}")
    if answers.dms_closed:
        lines.append("Direct messages: closed (I can't DM you; I answer in the server instead)")
    if lines:
        lines.append("Edit these answers with /welcome start.")
    return "\n".join(lines)


class CitySelect(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"profile:city-choice",
):
    """When a city is ambiguous or misspelled: pick one of the candidates. Stateless (the
    chosen geoname id is the value), so it keeps working after a restart or hours later."""

    def __init__(self, places: Sequence[Place] = ()) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id="profile:city-choice",
                placeholder="Pick your city",
                options=fit_options(
                    [
                        discord.SelectOption(label=place.label, value=str(place.geoname_id))
                        for place in places
                    ]
                ),
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CitySelect:
        return cls()

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        view = await interaction.client.services.members.set_city(
            guild.id,
            interaction.user.id,
            self.item.values[0],
            display_name=interaction.user.display_name,
        )
        await interaction.response.edit_message(content=saved_text(view), view=None)


def city_choice_view(places: Sequence[Place]) -> discord.ui.View:
    view = ErrorHandlingView(timeout=None)
    view.add_item(CitySelect(places))
    return view


class Profile(commands.Cog):
    profile = app_commands.Group(
        name="profile",
        description="Where you live, so members nearby find each other",
        guild_only=True,
    )

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    # --------------------------------------------------------------- commands

    @profile.command(name="city", description="Set the city you live in")
    @app_commands.describe(city="Start typing your city, then pick it from the list")
    async def city(
        self, interaction: discord.Interaction[ChapterBot], city: app_commands.Range[str, 1, 200]
    ) -> None:
        guild = guild_of(interaction)
        try:
            view = await self.bot.services.members.set_city(
                guild.id,
                interaction.user.id,
                city,
                display_name=interaction.user.display_name,
            )
        except (AmbiguousPlace, PlaceNotFound) as error:
            options = error.candidates if isinstance(error, AmbiguousPlace) else error.suggestions
            if not options:
                raise
            await interaction.response.send_message(
                clip(f"{error.message}\nOr pick it here:"),
                view=city_choice_view(options),
                ephemeral=True,
            )
            return
        await interaction.response.send_message(saved_text(view), ephemeral=True)

    @city.autocomplete("city")
    @logged_autocomplete
    async def city_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return city_choices(self.bot.services.places, current)

    @profile.command(name="show", description="See what the bot knows about you")
    async def show(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        view = await self.bot.services.members.get(guild.id, interaction.user.id)
        answers = await self.bot.services.welcome.answers(guild.id, interaction.user.id)
        text = "\n".join(filter(None, [profile_text(view), onboarding_text(answers)]))
        await interaction.response.send_message(clip(text), ephemeral=True)

    @profile.command(name="clear", description="Forget the city you set")
    async def clear(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        await self.bot.services.members.clear_city(guild.id, interaction.user.id)
        await interaction.response.send_message(
            "Done: your city is forgotten. You can set it again with /profile city.",
            ephemeral=True,
        )


async def setup(bot: ChapterBot) -> None:
    bot.add_dynamic_items(CitySelect)
    await bot.add_cog(Profile(bot))


async def teardown(bot: ChapterBot) -> None:
    bot.remove_dynamic_items(CitySelect)
