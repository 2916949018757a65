"""/welcome and /toolkit: greet newcomers, onboard them (Start → modal → city → introductions →
a local chapter), follow up within the window organizers set, and the chapter toolkit.

The join itself is handled by ``cogs/members.py`` (its welcome step calls
``services.welcome.newcomer_joined``); this cog owns the buttons the welcome carries, the
commands and the follow-up timer's listener. Every button and select carries the guild id in its
custom_id, so the flow works from a DM as well as in the server, and after a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chapter_joins import join_and_reply
from bot.checks import is_organizer, organizer_only
from bot.client import ChapterBot
from bot.errors import NotAllowed, NotFound
from bot.interactions import (
    ErrorHandlingItem,
    ErrorHandlingView,
    guild_and_member,
    guild_of,
    handle_interaction_error,
    logged_autocomplete,
)
from bot.limits import clip, fit_choices, fit_options, join_lines
from bot.notify import notify_organizers
from bot.provisioning import join_custom_id, propose_and_provision
from bot.role_checks import cannot_manage
from bot.services.places import AmbiguousPlace, Place, PlaceNotFound
from bot.services.sanitize import parse_row_id
from bot.services.timers import TimerRecord
from bot.services.welcome import (
    ANSWER_MAX,
    TOOLKIT_SECTIONS,
    Completion,
    OnboardingSummary,
    WelcomeConfig,
    format_duration,
    render,
)
from bot.text import esc, timestamp
from bot.welcome_buttons import START_TEMPLATE, start_custom_id

log = logging.getLogger(__name__)

#: The event ``cogs/members.py`` dispatches after a member-caused chapter change.
CHAPTER_TRANSITIONS_EVENT = "chapter_transitions"


# ------------------------------------------------------------------------------ the flow


def _member_of(bot: ChapterBot, guild_id: int, user_id: int) -> discord.Guild:
    """The server a welcome button belongs to; the clicker must still be in it."""
    guild = bot.get_guild(guild_id)
    if guild is None:
        raise NotFound("I'm no longer in that server, so there is nothing to start.")
    if guild.chunked and guild.get_member(user_id) is None:
        raise NotAllowed("You're no longer a member of that server.")
    return guild


async def open_onboarding(interaction: discord.Interaction[ChapterBot], guild_id: int) -> None:
    """The first step, from the Start button or /welcome start: the modal, pre-filled with what
    the member answered before (so the same flow edits the answers)."""
    bot = interaction.client
    guild = _member_of(bot, guild_id, interaction.user.id)
    answers = await bot.services.welcome.answers(guild.id, interaction.user.id)
    await interaction.response.send_modal(OnboardingModal(guild.id, guild.name, answers))


class OnboardingModal(discord.ui.Modal):
    """Why did you join, what could we do (both optional), your city."""

    def __init__(self, guild_id: int, server: str, answers: OnboardingSummary | None) -> None:
        super().__init__(title=clip(f"Welcome to {server}", 45), timeout=900)
        self.guild_id = guild_id
        self.why: discord.ui.TextInput[OnboardingModal] = discord.ui.TextInput(
            label="Why did you join?",
            custom_id="welcome:why",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ANSWER_MAX,
            default=answers.why_joined if answers else None,
        )
        self.what: discord.ui.TextInput[OnboardingModal] = discord.ui.TextInput(
            label="What do you think we could do?",
            custom_id="welcome:what",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ANSWER_MAX,
            default=answers.what_we_could_do if answers else None,
        )
        self.city: discord.ui.TextInput[OnboardingModal] = discord.ui.TextInput(
            label="Your city",
            custom_id="welcome:city",
            placeholder="e.g. Portland, OR",
            required=False,
            max_length=200,
            default=answers.city_label if answers else None,
        )
        for item in (self.why, self.what, self.city):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[ChapterBot]) -> None:  # type: ignore[override]
        services = interaction.client.services
        user = interaction.user
        await services.welcome.save_answers(
            self.guild_id, user.id, self.why.value or None, self.what.value or None
        )
        city = self.city.value.strip()
        if city:
            try:
                await services.members.set_city(
                    self.guild_id, user.id, city, display_name=user.display_name
                )
            except (AmbiguousPlace, PlaceNotFound) as error:
                options = (
                    error.candidates if isinstance(error, AmbiguousPlace) else error.suggestions
                )
                if not options:
                    raise
                await interaction.response.send_message(
                    clip(f"{error.message}\nPick your city here (nothing is guessed):"),
                    view=city_pick_view(self.guild_id, options),
                    ephemeral=True,
                )
                return
        await interaction.response.send_message(
            INTRO_QUESTION, view=intro_view(self.guild_id), ephemeral=True
        )

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[ChapterBot], error: Exception
    ) -> None:
        await handle_interaction_error(interaction, error)


INTRO_QUESTION = (
    "Thanks! Last question: shall I introduce you to members near you who asked for the same? "
    "(One message to each of you, never a broadcast.)"
)


class CityPick(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"welcome:city:(?P<guild>[0-9]{1,20})",
):
    """An ambiguous or unknown city: the member picks one of the candidates (the value is the
    geoname id, so it works after a restart)."""

    def __init__(self, guild_id: int, places: Sequence[Place] = ()) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"welcome:city:{guild_id}",
                placeholder="Pick your city",
                options=fit_options(
                    [discord.SelectOption(label=p.label, value=str(p.geoname_id)) for p in places]
                )
                or [discord.SelectOption(label="-", value="0")],
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CityPick:
        return cls(int(match["guild"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = _member_of(interaction.client, self.guild_id, interaction.user.id)
        await interaction.client.services.members.set_city(
            guild.id,
            interaction.user.id,
            self.item.values[0],
            display_name=interaction.user.display_name,
        )
        await interaction.response.edit_message(content=INTRO_QUESTION, view=intro_view(guild.id))


def city_pick_view(guild_id: int, places: Sequence[Place]) -> discord.ui.View:
    view = ErrorHandlingView(timeout=None)
    view.add_item(CityPick(guild_id, places))
    return view


class IntroAnswer(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"welcome:intro:(?P<guild>[0-9]{1,20}):(?P<answer>yes|no)",
):
    """Yes/no to "introduce me to members near me"; completes onboarding."""

    def __init__(self, guild_id: int, answer: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label="Yes, introduce me" if answer else "No thanks",
                style=discord.ButtonStyle.success if answer else discord.ButtonStyle.secondary,
                custom_id=f"welcome:intro:{guild_id}:{'yes' if answer else 'no'}",
            )
        )
        self.guild_id = guild_id
        self.answer = answer

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> IntroAnswer:
        return cls(int(match["guild"]), match["answer"] == "yes")

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = _member_of(interaction.client, self.guild_id, interaction.user.id)
        done = await interaction.client.services.welcome.complete(
            guild.id, interaction.user.id, self.answer
        )
        meetings = interaction.client.services.meetings
        next_meetings = {}
        for nearby in done.chapters:
            upcoming, _held = await meetings.next_and_last(guild.id, nearby.chapter.id)
            if upcoming is not None:
                next_meetings[nearby.chapter.id] = upcoming.starts_at
        text, view = completion_reply(guild.id, done, next_meetings)
        await interaction.response.edit_message(content=text, view=view)


def intro_view(guild_id: int) -> discord.ui.View:
    view = ErrorHandlingView(timeout=None)
    view.add_item(IntroAnswer(guild_id, True))
    view.add_item(IntroAnswer(guild_id, False))
    return view


def completion_reply(
    guild_id: int, done: Completion, next_meetings: Mapping[int, datetime]
) -> tuple[str, discord.ui.View | None]:
    """What the member is told at the end: their chapter (nearest first) with Join, or how
    many members live nearby with Start a chapter here."""
    lines = ["✅ Saved. Thank you! Edit your answers any time with /welcome start."]
    if done.introduced:
        names = ", ".join(f"<@{u}>" for u in done.introduced)
        lines.append(f"🤝 I've introduced you to {names}: look in your DMs.")
    view = ErrorHandlingView(timeout=None)
    if done.place is None:
        lines.append(
            "Tell me your city (/welcome start or /profile city) and I'll point you to members "
            "and a chapter near you."
        )
        return "\n".join(lines), None
    if done.chapters:
        lines.append("**Chapters near you:**")
        for nearby in done.chapters:
            chapter = nearby.chapter
            lines.append(
                f"• **{esc(chapter.name)}** ({chapter.status_label}, {chapter.member_count} "
                f"members, {nearby.distance_km:.0f} km away)"
                + (
                    f", next meeting {timestamp(next_meetings[chapter.id], 'F')}"
                    if chapter.id in next_meetings
                    else ""
                )
            )
            view.add_item(JoinFromWelcome(guild_id, chapter.id, chapter.name))
    else:
        lines.append(
            f"There's no chapter within {done.radius_km} km of {esc(done.place.label)} yet. "
            f"{done.members_in_city} other member(s) live in {esc(done.place.name)} and "
            f"{done.members_nearby} within {done.radius_km} km. Start one: others can join it."
        )
        view.add_item(StartChapterHere(guild_id, done.place.geoname_id))
    return clip("\n".join(lines)), view


class JoinFromWelcome(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"welcome:join:(?P<guild>[0-9]{1,20}):(?P<chapter>[0-9]{1,10})",
):
    """One-click Join: the same handling as /chapter join (the role written with the membership,
    a missing role given again, the member told where the role stands); status changes are
    announced by the chapters cog."""

    def __init__(self, guild_id: int, chapter_id: int, name: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=clip(f"Join {name}" if name else "Join", 80),
                style=discord.ButtonStyle.success,
                custom_id=f"welcome:join:{guild_id}:{chapter_id}",
                emoji="🤝",
            )
        )
        self.guild_id = guild_id
        self.chapter_id = chapter_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JoinFromWelcome:
        chapter_id = parse_row_id(match["chapter"], what="chapter")
        return cls(int(match["guild"]), chapter_id)

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        bot = interaction.client
        guild = _member_of(bot, self.guild_id, interaction.user.id)
        member = guild.get_member(interaction.user.id)
        if member is None:
            raise NotAllowed("Join the server first, then press Join again.")
        transitions = await join_and_reply(interaction, guild, member, self.chapter_id)
        if transitions:
            bot.dispatch(CHAPTER_TRANSITIONS_EVENT, list(transitions))


class StartChapterHere(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"welcome:propose:(?P<guild>[0-9]{1,20}):(?P<place>[0-9]{1,12})",
):
    """One-click Start a chapter here: the same path as /chapter propose in the member's city
    (proposal, role and private channel, the public announcement with its Join button;
    organizers told only of what failed)."""

    def __init__(self, guild_id: int, geoname_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Start a chapter here",
                style=discord.ButtonStyle.primary,
                custom_id=f"welcome:propose:{guild_id}:{geoname_id}",
                emoji="🌱",
            )
        )
        self.guild_id = guild_id
        self.geoname_id = geoname_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> StartChapterHere:
        return cls(int(match["guild"]), int(match["place"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        bot = interaction.client
        guild = _member_of(bot, self.guild_id, interaction.user.id)

        async def defer() -> None:
            await interaction.response.defer(thinking=True)

        proposal = await propose_and_provision(
            bot, guild, interaction.user, str(self.geoname_id), before_provisioning=defer
        )
        await interaction.followup.send(proposal.announcement, view=_join_view(proposal.chapter.id))
        if proposal.problems:
            await interaction.followup.send(proposal.problems, ephemeral=True)


def _join_view(chapter_id: int) -> discord.ui.View:
    """The proposal's Join button (``chapter:join:<id>``, answered by the chapters cog)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Join this chapter",
            style=discord.ButtonStyle.success,
            custom_id=join_custom_id(chapter_id),
            emoji="🤝",
        )
    )
    return view


class StartButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=START_TEMPLATE,
):
    """The Start button on the welcome post and DM (persistent: it works on old messages)."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Start",
                style=discord.ButtonStyle.primary,
                custom_id=start_custom_id(guild_id),
                emoji="👋",
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> StartButton:
        return cls(int(match["guild"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await open_onboarding(interaction, self.guild_id)


DYNAMIC_ITEMS = (StartButton, CityPick, IntroAnswer, JoinFromWelcome, StartChapterHere)


# ------------------------------------------------------------------------------ rendering


def settings_text(config: WelcomeConfig, guild: discord.Guild) -> str:
    def role(role_id: int | None) -> str:
        return f"<@&{role_id}>" if role_id else "none"

    channel = (
        f"<#{config.welcome_channel_id}>"
        if config.welcome_channel_id
        else "none (set it with /setup)"
    )
    return (
        f"**Welcome settings**\nWelcome channel: {channel}\n"
        f"Follow-up window: {format_duration(config.followup)}\n"
        f"Radius for members nearby: {config.radius_km} km\n"
        f"Newcomer role: {role(config.newcomer_role_id)} · "
        f"member role: {role(config.member_role_id)}\n"
        "See both messages with /welcome preview."
    )


def summary_lines(summary: OnboardingSummary, *, with_member: bool) -> list[str]:
    lines = []
    if with_member:
        welcomer = f"<@{summary.welcomer_id}>" if summary.welcomer_id else "nobody"
        lines.append(
            f"<@{summary.user_id}> joined {timestamp(summary.joined_at)} · welcomer {welcomer}"
            + (f" · {esc(summary.city_label)}" if summary.city_label else "")
        )
    if summary.why_joined:
        lines.append(f"  Why they joined: “{esc(clip(summary.why_joined, 150))}”")
    if summary.what_we_could_do:
        lines.append(f"  What we could do: “{esc(clip(summary.what_we_could_do, 150))}”")
    return lines


# ------------------------------------------------------------------------------ commands


class Welcome(commands.Cog):
    welcome = app_commands.Group(
        name="welcome",
        description="Welcome newcomers: onboarding, welcomers, follow-up",
        guild_only=True,
    )
    toolkit = app_commands.Group(
        name="toolkit",
        description="The chapter toolkit: resources for starting a chapter",
        guild_only=True,
    )

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    # -- timer ------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_welcome_followup_timer_complete(self, timer: TimerRecord) -> None:
        """The follow-up window passed: the service decides whether anyone is still to be told."""
        guild_id = int(timer.payload["guild_id"])
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            log.info("follow-up for guild %s skipped: the bot is no longer in it", guild_id)
            return
        await self.bot.services.welcome.followup_due(
            guild_id,
            int(timer.payload["user_id"]),
            str(timer.payload["joined_at"]),
            owner_id=guild.owner_id,
        )

    # -- members ----------------------------------------------------------------------------

    @welcome.command(name="start", description="Answer (or edit) the welcome questions")
    async def start(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild, _member = guild_and_member(interaction)
        await open_onboarding(interaction, guild.id)

    @welcome.command(name="volunteer", description="Offer to welcome newcomers (or stop)")
    @app_commands.describe(on="True to welcome newcomers, False to stop")
    async def volunteer(self, interaction: discord.Interaction[ChapterBot], on: bool) -> None:
        guild, member = guild_and_member(interaction)
        await self.bot.services.welcome.set_volunteer(guild.id, member.id, on)
        text = (
            "Thank you! New members will be assigned to you (members in your city first). When "
            "you've been in touch, record it with /welcome contacted."
            if on
            else "Done: no new members will be assigned to you. Those already assigned stay "
            "on /welcome pending."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @welcome.command(name="contacted", description="Record that a newcomer was contacted")
    @app_commands.describe(
        member="The newcomer you got in touch with", note="What happened (optional)"
    )
    async def contacted(
        self,
        interaction: discord.Interaction[ChapterBot],
        member: discord.Member,
        note: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        guild, actor = guild_and_member(interaction)
        organizer = is_organizer(actor, await self.bot.services.guilds.get(guild.id))
        await self.bot.services.welcome.record_contact(
            guild.id, actor.id, member.id, note, actor_is_organizer=organizer
        )
        await interaction.response.send_message(
            f"Recorded: {member.mention} was contacted. No follow-up reminder will be sent.",
            ephemeral=True,
        )

    # -- organizers --------------------------------------------------------------------------

    @welcome.command(name="settings", description="Organizers: welcome messages, follow-up, roles")
    @app_commands.describe(
        channel_message="The welcome post; placeholders {member} {server} {toolkit}",
        dm_message="The welcome DM; placeholders {member} {server} {toolkit}",
        followup="Remind welcomers after this long without contact: 48h, 2d, 30m",
        radius_km="How far 'members nearby' reaches (default 50)",
        newcomer_role="Given on join, taken when onboarding is done",
        member_role="Given when onboarding is done",
        reset="Back to the default messages and no roles",
    )
    @organizer_only()
    async def settings(
        self,
        interaction: discord.Interaction[ChapterBot],
        channel_message: app_commands.Range[str, 1, 1500] | None = None,
        dm_message: app_commands.Range[str, 1, 1500] | None = None,
        followup: app_commands.Range[str, 1, 20] | None = None,
        radius_km: app_commands.Range[int, 1, 1000] | None = None,
        newcomer_role: discord.Role | None = None,
        member_role: discord.Role | None = None,
        reset: bool = False,
    ) -> None:
        guild = guild_of(interaction)
        config = await self.bot.services.welcome.update_settings(
            guild.id,
            channel_template=channel_message,
            dm_template=dm_message,
            followup=followup,
            radius_km=radius_km,
            newcomer_role_id=newcomer_role.id if newcomer_role else None,
            member_role_id=member_role.id if member_role else None,
            reset_templates=reset,
            clear_roles=reset,
        )
        problems = [
            problem
            for role in (newcomer_role, member_role)
            if role is not None and (problem := cannot_manage(guild, role)) is not None
        ]
        text = "Saved.\n" + settings_text(config, guild)
        if problems:
            text += "\n⚠️ " + "\n⚠️ ".join(problems)
            await notify_organizers(
                self.bot, guild.id, "Welcome roles can't be given yet:\n" + "\n".join(problems)
            )
        await interaction.response.send_message(clip(text), ephemeral=True)

    @welcome.command(name="preview", description="Organizers: see the welcome post and DM")
    @organizer_only()
    async def preview(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        config = await self.bot.services.welcome.config(guild.id)
        member = interaction.user.mention
        server = esc(guild.name)
        post = render(config.channel_template, member=member, server=server)
        dm = render(config.dm_template, member=member, server=server)
        where = (
            f"<#{config.welcome_channel_id}>"
            if config.welcome_channel_id
            else "no channel: set one with /setup"
        )
        text = (
            f"**Welcome post** (in {where}):\n"
            f"{post}\n\n**Welcome DM:**\n{dm}\n\n" + settings_text(config, guild)
        )
        view = ErrorHandlingView(timeout=None)
        view.add_item(StartButton(guild.id))
        await interaction.response.send_message(clip(text), view=view, ephemeral=True)

    @welcome.command(name="pending", description="Organizers: newcomers nobody has contacted yet")
    @organizer_only()
    async def pending(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        waiting = await self.bot.services.welcome.pending(guild.id)
        if not waiting:
            await interaction.response.send_message(
                "Nobody is waiting: every newcomer has been contacted.", ephemeral=True
            )
            return
        lines = [f"**{len(waiting)} newcomer(s) without contact, oldest first:**"]
        for summary in waiting:
            lines.extend(summary_lines(summary, with_member=True))
        await interaction.response.send_message(join_lines(lines, 2000), ephemeral=True)

    # -- toolkit ------------------------------------------------------------------------------

    @toolkit.command(name="show", description="The chapter toolkit: guides and templates")
    async def toolkit_show(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        lines = ["**Chapter toolkit**"]
        for section in await self.bot.services.welcome.toolkit(guild.id):
            lines.append(f"__{esc(section.name)}__")
            if not section.items:
                lines.append("  (nothing yet: organizers add resources with /toolkit add)")
            for item in section.items:
                about = f": {esc(item.description)}" if item.description else ""
                lines.append(f"  • [{esc(item.title)}](<{item.url}>){about}")
        await interaction.response.send_message(join_lines(lines, 2000), ephemeral=True)

    @toolkit.command(name="add", description="Organizers: add a resource to the toolkit")
    @app_commands.describe(
        section="Where it goes (one of the seed's sections, or a new one)",
        title="Its name",
        link="https:// link",
        description="One line about it",
    )
    @app_commands.choices(section=[app_commands.Choice(name=s, value=s) for s in TOOLKIT_SECTIONS])
    @organizer_only()
    async def toolkit_add(
        self,
        interaction: discord.Interaction[ChapterBot],
        section: str,
        title: app_commands.Range[str, 1, 100],
        link: app_commands.Range[str, 1, 500],
        description: app_commands.Range[str, 0, 200] = "",
    ) -> None:
        guild = guild_of(interaction)
        item = await self.bot.services.welcome.add_resource(
            guild.id, interaction.user.id, section, title, link, description
        )
        await interaction.response.send_message(
            f"Added **{esc(item.title)}** to {esc(item.section)}. See it with /toolkit show.",
            ephemeral=True,
        )

    @toolkit.command(name="remove", description="Organizers: remove a resource from the toolkit")
    @app_commands.describe(resource="The resource: pick it as you type")
    @organizer_only()
    async def toolkit_remove(
        self, interaction: discord.Interaction[ChapterBot], resource: str
    ) -> None:
        guild = guild_of(interaction)
        resource_id = parse_row_id(resource, what="resource")
        item = await self.bot.services.welcome.remove_resource(guild.id, resource_id)
        await interaction.response.send_message(
            f"Removed **{esc(item.title)}** from {esc(item.section)}.", ephemeral=True
        )

    @toolkit_remove.autocomplete("resource")
    @logged_autocomplete
    async def resource_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await self.bot.services.welcome.search_resources(interaction.guild_id, current)
        return fit_choices(
            [app_commands.Choice(name=f"{i.title} ({i.section})", value=str(i.id)) for i in found]
        )


async def setup(bot: ChapterBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Welcome(bot))


async def teardown(bot: ChapterBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
