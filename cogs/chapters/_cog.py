"""/chapter: propose, join and run local chapters; organizers archive, merge, tune criteria.

Thin adapter: parse and check → ``services.chapters`` → render. Status changes that a command
or the daily evaluation causes are announced in the chapter's channel and to organizers.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chapter_joins import join_and_reply
from bot.checks import member_is_organizer, organizer_only
from bot.choices import city_choices
from bot.client import ChapterBot
from bot.errors import InvalidInput, NotFound
from bot.interactions import guild_and_member, logged_autocomplete
from bot.limits import CONTENT_MAX, clip, fit_choices, fit_embed, join_inline, join_lines
from bot.notify import post_in_channel
from bot.provisioning import (
    ProvisionReport,
    propose_and_provision,
    provision,
    tell_organizers_about,
)
from bot.role_sync import sync_chapter_roles
from bot.services.chapters import (
    KNOWN_ROLES,
    STATUS_LABELS,
    ChapterStatus,
    ChapterSummary,
    Transition,
    normalize_role,
)
from bot.services.effects import (
    EffectRequest,
    EffectStatus,
    channel_post,
    direct_message,
    role_subject,
)
from bot.services.member_map import MemberMapService
from bot.services.places import CONTINENT_NAMES
from bot.services.sanitize import parse_row_id
from bot.services.timers import TimerRecord
from bot.text import bullets, esc
from cogs.chapters._views import (
    agreements_embed,
    choice_label,
    info_embed,
    join_view,
    list_embed,
    quote,
    roles_text,
    settings_text,
    transition_text,
)

log = logging.getLogger(__name__)

MESSAGE_MAX = CONTENT_MAX
EVALUATION_EVENT = "chapter_evaluation"
#: When the daily evaluation runs (UTC).
EVALUATION_TIME = time(9, 0)
#: Transitions announced in the chapter's channel and to organizers.
ANNOUNCED = (ChapterStatus.FORMAL, ChapterStatus.AT_RISK, ChapterStatus.LAPSED)

STATUS_CHOICES = [
    app_commands.Choice(name=STATUS_LABELS[s], value=s.value)
    for s in (
        ChapterStatus.FORMING,
        ChapterStatus.FORMAL,
        ChapterStatus.AT_RISK,
        ChapterStatus.LAPSED,
        ChapterStatus.ARCHIVED,
    )
]
LIST_STATUS_CHOICES = [
    *STATUS_CHOICES,
    app_commands.Choice(name=STATUS_LABELS[ChapterStatus.MERGED], value="merged"),
]
CONTINENT_CHOICES = [
    app_commands.Choice(name=name, value=code)
    for code, name in CONTINENT_NAMES.items()
    if code != "AN"
]


def next_evaluation(now: datetime) -> datetime:
    """The next daily evaluation time strictly after ``now``."""
    candidate = datetime.combine(now.date(), EVALUATION_TIME, tzinfo=now.tzinfo)
    return candidate if candidate > now else candidate + timedelta(days=1)


def evaluation_key(guild_id: int, when: datetime) -> str:
    """One evaluation timer per guild and day: creating it twice is a no-op."""
    return f"{EVALUATION_EVENT}:{guild_id}:{when:%Y-%m-%d}"


class _ChapterOption(app_commands.Transformer[ChapterBot]):
    """A chapter option: autocomplete by name or city (value = id); typed names work too."""

    include_inactive = False

    async def transform(
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> ChapterSummary:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        return await interaction.client.services.chapters.resolve(
            interaction.guild_id, str(value), include_inactive=self.include_inactive
        )

    @logged_autocomplete
    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await interaction.client.services.chapters.search(
            interaction.guild_id, str(value), limit=25, include_inactive=self.include_inactive
        )
        return [app_commands.Choice(name=choice_label(c), value=str(c.id)) for c in found]


class ActiveChapter(_ChapterOption):
    pass


class AnyChapter(_ChapterOption):
    include_inactive = True


Active = app_commands.Transform[ChapterSummary, ActiveChapter]
Known = app_commands.Transform[ChapterSummary, AnyChapter]


@app_commands.guild_only()
class Chapters(
    commands.GroupCog,
    group_name="chapter",
    group_description="Local chapters: propose, join, roles, agreements, status",
):
    roles = app_commands.Group(name="roles", description="Chapter roles: assign, rotate, show")
    agreements = app_commands.Group(
        name="agreements", description="A chapter's written agreements: add, list, adopt"
    )
    region = app_commands.Group(
        name="region", description="Organizers: group states and countries into your own regions"
    )

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.is_ready():  # reloaded at runtime: arm now; otherwise on_ready does it
            await self.arm_all()

    # ------------------------------------------------------------------ helpers

    async def _post(self, chapter: ChapterSummary, content: str, **kwargs: Any) -> None:
        """Say something in the chapter's own channel, if it has one (failures are logged)."""
        await post_in_channel(self.bot, chapter.channel_id, chapter.guild_id, content, **kwargs)

    async def announce(self, transitions: Sequence[Transition], *, by_hand: bool = False) -> None:
        lapse_days = self.bot.services.chapters.lapse_after.days
        for transition in transitions:
            if not by_hand and transition.to_status not in ANNOUNCED:
                continue
            text = clip(transition_text(transition, lapse_days))
            await self.bot.services.effects.enqueue_now(
                *await self._announcements(transition, text)
            )

    async def _announcements(self, transition: Transition, text: str) -> list[EffectRequest]:
        """The chapter channel's post and the organizers' notice of one status change, as
        outbox effects keyed by the change, so a retry or a second announcer never posts twice
        and a 5xx is retried."""
        chapter = transition.chapter
        key = f"chapter-status:{transition.change_id}"
        requests = []
        if chapter.channel_id:
            requests.append(
                channel_post(
                    chapter.channel_id,
                    guild_id=chapter.guild_id,
                    content=text,
                    purpose="announce",
                    dedupe_key=f"{key}:channel",
                    describe=f"announce a status change in <#{chapter.channel_id}>",
                )
            )
        settings = await self.bot.services.guilds.get(chapter.guild_id)
        if settings.organizer_channel_id:
            requests.append(
                channel_post(
                    settings.organizer_channel_id,
                    guild_id=chapter.guild_id,
                    content=text,
                    purpose="announce",
                    dedupe_key=f"{key}:organizers",
                    describe="tell organizers of a status change",
                )
            )
        else:  # as notify_organizers does: the owner, by DM
            guild = self.bot.get_guild(chapter.guild_id)
            if guild is not None and guild.owner_id is not None:
                requests.append(
                    direct_message(
                        guild.owner_id,
                        purpose="announce",
                        dedupe_key=f"{key}:owner",
                        content=text,
                        guild_id=chapter.guild_id,
                    )
                )
        return requests

    async def _provision(self, guild: discord.Guild, chapter: ChapterSummary) -> ProvisionReport:
        return await provision(self.bot, guild, chapter)

    async def _tell_organizers_about(
        self, guild: discord.Guild, chapter: ChapterSummary, problems: Sequence[str]
    ) -> str:
        return await tell_organizers_about(self.bot, guild, chapter, problems)

    # ------------------------------------------------------------------ timers and events

    async def arm(self, guild_id: int) -> TimerRecord:
        when = next_evaluation(self.bot.services.clock.now())
        return await self.bot.services.timers.create_timer(
            when, EVALUATION_EVENT, {"guild_id": guild_id}, key=evaluation_key(guild_id, when)
        )

    async def arm_all(self) -> None:
        for guild in self.bot.guilds:
            await self.arm(guild.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.arm_all()

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.arm(guild.id)

    @commands.Cog.listener()
    async def on_chapter_transitions(self, transitions: Sequence[Transition]) -> None:
        """Status changes that member events caused (``cogs/members.py`` dispatches them)."""
        await self.announce(transitions)

    @commands.Cog.listener()
    async def on_chapter_evaluation_timer_complete(self, timer: TimerRecord) -> None:
        guild_id = int(timer.payload["guild_id"])
        if self.bot.get_guild(guild_id) is None:
            log.info("not evaluating chapters of guild %s: the bot is no longer in it", guild_id)
            return
        await self.arm(guild_id)  # first, so a failing evaluation never breaks the chain
        transitions = await self.bot.services.chapters.evaluate_guild(guild_id)
        await self.announce(transitions)
        guild = self.bot.get_guild(guild_id)
        if guild is not None:  # daily, role holders converge to members whatever happened
            await sync_chapter_roles(self.bot, guild)

    # ------------------------------------------------------------------ members' commands

    @app_commands.command(name="propose", description="Propose a new chapter in your city")
    @app_commands.describe(
        city="Your city: pick it from the suggestions as you type",
        name="The chapter's name (default: “<City> Chapter”), at most 80 characters",
    )
    async def propose(
        self,
        interaction: discord.Interaction[ChapterBot],
        city: app_commands.Range[str, 1, 100],
        name: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        guild, member = guild_and_member(interaction)

        async def defer() -> None:
            await interaction.response.defer(thinking=True)

        proposal = await propose_and_provision(
            self.bot, guild, member, city, name, before_provisioning=defer
        )
        await interaction.followup.send(proposal.announcement, view=join_view(proposal.chapter.id))
        if proposal.problems:
            await interaction.followup.send(proposal.problems, ephemeral=True)

    @propose.autocomplete("city")
    @logged_autocomplete
    async def city_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return city_choices(self.bot.services.places, current)

    @app_commands.command(name="join", description="Join a chapter")
    @app_commands.describe(chapter="The chapter to join: pick it as you type")
    async def join(self, interaction: discord.Interaction[ChapterBot], chapter: Active) -> None:
        guild, member = guild_and_member(interaction)
        await self._join(interaction, guild, member, chapter.id)

    async def join_from_button(
        self, interaction: discord.Interaction[ChapterBot], chapter_id: int
    ) -> None:
        guild, member = guild_and_member(interaction)
        await self._join(interaction, guild, member, chapter_id)

    async def _join(
        self,
        interaction: discord.Interaction[ChapterBot],
        guild: discord.Guild,
        member: discord.Member,
        chapter_id: int,
    ) -> None:
        transitions = await join_and_reply(interaction, guild, member, chapter_id)
        await self.announce(transitions)

    @app_commands.command(name="leave", description="Leave a chapter")
    @app_commands.describe(chapter="The chapter to leave (default: your only chapter)")
    async def leave(
        self, interaction: discord.Interaction[ChapterBot], chapter: Known | None = None
    ) -> None:
        guild, member = guild_and_member(interaction)
        if chapter is None:
            mine = await self.bot.services.chapters.chapters_of(guild.id, member.id)
            if not mine:
                raise NotFound("You're not in any chapter. Find one with /chapter list.")
            if len(mine) > 1:
                names = join_inline([c.name for c in mine], 1500)
                raise InvalidInput(f"You're in several chapters ({names}): name the one to leave.")
            chapter = mine[0]
        change = await self.bot.services.chapters.leave(guild.id, chapter.id, member.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = f"You left **{esc(change.chapter.name)}**."
        if change.vacated_roles:
            text += f" Your roles there ({', '.join(change.vacated_roles)}) are open again."
        if change.chapter.role_id is not None:
            subject = role_subject(guild.id, member.id, change.chapter.role_id)
            status = (await self.bot.effects_worker.wait_settled([subject]))[subject]
            if status == EffectStatus.PENDING:
                text += " Discord is slow right now: the chapter role goes in a moment."
            elif status == EffectStatus.FAILED:
                text += " I couldn't take the chapter role back yet; organizers have been told."
        await interaction.followup.send(clip(text), ephemeral=True)
        if change.vacated_roles:
            await self._post(
                change.chapter,
                f"{member.mention} left; open roles: {', '.join(change.vacated_roles)}. "
                "Assign them with /chapter roles assign or /chapter roles rotate.",
            )
        await self.announce(change.transitions)

    @app_commands.command(
        name="info", description="A chapter's status, criteria, members and roles"
    )
    @app_commands.describe(chapter="The chapter: pick it as you type")
    async def info(self, interaction: discord.Interaction[ChapterBot], chapter: Known) -> None:
        details = await self.bot.services.chapters.details(chapter.guild_id, chapter.id)
        upcoming, held = await self.bot.services.meetings.next_and_last(
            chapter.guild_id, chapter.id
        )
        await interaction.response.send_message(
            embed=info_embed(details, upcoming, held), ephemeral=True
        )

    @app_commands.command(name="list", description="List chapters, by region, continent or status")
    @app_commands.describe(
        region="A state or country (“CA”, “Ontario”, “US-OR”) or one of your organizer regions",
        continent="Only chapters on this continent",
        status="Only chapters with this status",
    )
    @app_commands.choices(continent=CONTINENT_CHOICES, status=LIST_STATUS_CHOICES)
    async def list_(
        self,
        interaction: discord.Interaction[ChapterBot],
        region: app_commands.Range[str, 1, 60] | None = None,
        continent: app_commands.Choice[str] | None = None,
        status: app_commands.Choice[str] | None = None,
    ) -> None:
        guild, _member = guild_and_member(interaction)
        found = await self.bot.services.chapters.list_chapters(
            guild.id,
            region=region,
            continent=continent.value if continent else None,
            status=ChapterStatus(status.value) if status else None,
        )
        filters = ", ".join(
            part
            for part in (
                region,
                continent.name if continent else None,
                status.name if status else None,
            )
            if part
        )
        await interaction.response.send_message(
            embed=list_embed(found, esc(filters)), ephemeral=True
        )

    # ------------------------------------------------------------------ roles

    @roles.command(name="assign", description="Give a chapter role (facilitator, note-taker, …)")
    @app_commands.describe(
        chapter="The chapter",
        role="The role: facilitator, note-taker, outreach, treasurer or your own",
        member="The chapter member who takes it",
    )
    async def roles_assign(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Active,
        role: app_commands.Range[str, 1, 40],
        member: discord.Member,
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        change = await self.bot.services.chapters.assign_role(
            chapter.guild_id,
            chapter.id,
            role,
            member.id,
            actor_id=actor.id,
            actor_is_organizer=await member_is_organizer(self.bot, actor),
        )
        before = f" (was <@{change.previous_user_id}>)" if change.previous_user_id else ""
        await interaction.response.send_message(
            f"{member.mention} is now **{change.role}** of **{esc(change.chapter.name)}**{before}."
        )
        await self.announce(change.transitions)

    @roles_assign.autocomplete("role")
    @logged_autocomplete
    async def role_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        key_roles: tuple[str, ...] = ()
        if interaction.guild_id is not None:
            key_roles = (
                await self.bot.services.chapter_settings.get(interaction.guild_id)
            ).key_roles
        names = list(dict.fromkeys([*key_roles, *KNOWN_ROLES]))
        text = current.strip().lower()
        matches = [n for n in names if n.startswith(text)] + [
            n for n in names if text in n and not n.startswith(text)
        ]
        return [app_commands.Choice(name=n, value=n) for n in matches[:25]]

    @roles.command(
        name="rotation", description="Turn the facilitator/note-taker rotation on or off"
    )
    @app_commands.describe(chapter="The chapter", enabled="True to rotate roles at each meeting")
    async def roles_rotation(
        self, interaction: discord.Interaction[ChapterBot], chapter: Active, enabled: bool
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        updated = await self.bot.services.chapters.set_rotation(
            chapter.guild_id,
            chapter.id,
            enabled,
            actor_id=actor.id,
            actor_is_organizer=await member_is_organizer(self.bot, actor),
        )
        text = (
            "on: facilitator and note-taker pass to the next members at each meeting "
            "(or now with /chapter roles rotate)"
            if updated.rotate_roles
            else "off"
        )
        await interaction.response.send_message(
            f"Role rotation for **{esc(updated.name)}** is {text}."
        )

    @roles.command(name="rotate", description="Hand facilitator and note-taker to the next members")
    @app_commands.describe(chapter="The chapter")
    async def roles_rotate(
        self, interaction: discord.Interaction[ChapterBot], chapter: Active
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        result = await self.bot.services.chapters.rotate(
            chapter.guild_id,
            chapter.id,
            actor_id=actor.id,
            actor_is_organizer=await member_is_organizer(self.bot, actor),
        )
        lines = [f"🔄 Roles rotated in **{esc(result.chapter.name)}**:"]
        previous = {h.role: h.user_id for h in result.previous}
        for holder in result.holders:
            was = previous.get(holder.role)
            change = f" (after <@{was}>)" if was and was != holder.user_id else ""
            lines.append(f"• **{holder.role}:** <@{holder.user_id}>{change}")
        await interaction.response.send_message(join_lines(lines))
        await self.announce(result.transitions)

    @roles.command(name="show", description="Who holds which role in a chapter")
    @app_commands.describe(chapter="The chapter")
    async def roles_show(
        self, interaction: discord.Interaction[ChapterBot], chapter: Known
    ) -> None:
        details = await self.bot.services.chapters.details(chapter.guild_id, chapter.id)
        await interaction.response.send_message(roles_text(details), ephemeral=True)

    # ------------------------------------------------------------------ agreements

    @agreements.command(name="add", description="Propose a written agreement for a chapter")
    @app_commands.describe(chapter="The chapter", text="The agreement, at most 1000 characters")
    async def agreements_add(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Active,
        text: app_commands.Range[str, 1, 2000],
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        agreement = await self.bot.services.chapters.add_agreement(
            chapter.guild_id,
            chapter.id,
            text,
            actor_id=actor.id,
            actor_is_organizer=await member_is_organizer(self.bot, actor),
        )
        head = (
            f"📝 {actor.mention} proposed agreement **#{agreement.id}** for "
            f"**{esc(chapter.name)}**:\n"
        )
        tail = (
            "\nThe facilitator, a founder or an organizer adopts it with /chapter agreements adopt."
        )
        await interaction.response.send_message(
            head + quote(agreement.text, MESSAGE_MAX - len(head) - len(tail)) + tail
        )

    @agreements.command(name="list", description="A chapter's agreements, adopted and proposed")
    @app_commands.describe(chapter="The chapter")
    async def agreements_list(
        self, interaction: discord.Interaction[ChapterBot], chapter: Known
    ) -> None:
        details = await self.bot.services.chapters.details(chapter.guild_id, chapter.id)
        await interaction.response.send_message(embed=agreements_embed(details), ephemeral=True)

    @agreements.command(
        name="adopt", description="Adopt a proposed agreement (facilitator/founders)"
    )
    @app_commands.describe(chapter="The chapter", agreement="The agreement: pick it as you type")
    async def agreements_adopt(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Active,
        agreement: app_commands.Range[str, 1, 20],
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        number = parse_row_id(agreement, what="agreement")
        change = await self.bot.services.chapters.adopt_agreement(
            chapter.guild_id,
            chapter.id,
            number,
            actor_id=actor.id,
            actor_is_organizer=await member_is_organizer(self.bot, actor),
        )
        head = f"✅ **{esc(change.chapter.name)}** adopted agreement **#{change.agreement.id}**:\n"
        await interaction.response.send_message(
            head + quote(change.agreement.text, MESSAGE_MAX - len(head))
        )
        await self.announce(change.transitions)

    @agreements_adopt.autocomplete("agreement")
    @logged_autocomplete
    async def agreement_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        raw = getattr(interaction.namespace, "chapter", None)
        if interaction.guild_id is None or not raw:
            return []
        # a half-typed chapter raises NotFound: no choices (logged_autocomplete)
        chapter = await self.bot.services.chapters.resolve(interaction.guild_id, str(raw))
        agreements = await self.bot.services.chapters.list_agreements(
            interaction.guild_id, chapter.id
        )
        text = current.strip().lstrip("#").lower()
        pending = [a for a in agreements if not a.adopted]
        matches = [a for a in pending if not text or text in f"{a.id} {a.text.lower()}"]
        return fit_choices(
            [app_commands.Choice(name=f"#{a.id} {a.text}", value=str(a.id)) for a in matches]
        )

    # ------------------------------------------------------------------ organizers

    @app_commands.command(name="archive", description="Organizers: archive a chapter")
    @app_commands.describe(chapter="The chapter to archive", reason="Why (kept in its history)")
    @organizer_only()
    async def archive(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Active,
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        transition = await self.bot.services.chapters.archive(
            chapter.guild_id, chapter.id, reason, actor.id
        )
        leftovers = self._leftovers(transition.chapter)
        await interaction.response.send_message(
            f"Archived **{esc(chapter.name)}**.{leftovers}", ephemeral=True
        )
        await self._post(
            transition.chapter, f"📦 This chapter was archived by an organizer: {esc(reason)}"
        )

    @staticmethod
    def _leftovers(chapter: ChapterSummary) -> str:
        parts = []
        if chapter.role_id:
            parts.append(f"role <@&{chapter.role_id}>")
        if chapter.channel_id:
            parts.append(f"channel <#{chapter.channel_id}>")
        if not parts:
            return ""
        return (
            f" Its {' and '.join(parts)} are left in place so nothing is lost; "
            "delete them in Server Settings when you no longer need them."
        )

    @app_commands.command(name="merge", description="Organizers: merge a chapter into another")
    @app_commands.describe(
        source="The chapter that ends", into="The chapter that keeps going", reason="Why"
    )
    @organizer_only()
    async def merge(
        self,
        interaction: discord.Interaction[ChapterBot],
        source: Active,
        into: Active,
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild, actor = guild_and_member(interaction)
        result = await self.bot.services.chapters.merge(
            guild.id, source.id, into.id, reason, actor.id
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        problems: list[str] = []
        roles_news = ""
        if result.moved_user_ids and result.target.role_id is None:
            problems = [f"{result.target.name} has no Discord role yet."]
        elif result.moved_user_ids and result.target.role_id is not None:
            subjects = [
                role_subject(guild.id, u, result.target.role_id) for u in result.moved_user_ids
            ]
            statuses = await self.bot.effects_worker.wait_settled(subjects, timeout=3.0)
            waiting = sum(1 for s in statuses.values() if s == EffectStatus.PENDING)
            failed = sum(1 for s in statuses.values() if s == EffectStatus.FAILED)
            if waiting:
                roles_news += f" {waiting} of their roles are still on their way."
            if failed:
                roles_news += f" {failed} role(s) failed; you'll get the reasons here."
        target_channel = (
            f" Continue in <#{result.target.channel_id}>." if result.target.channel_id else ""
        )
        await self._post(
            result.source,
            f"🔀 This chapter was merged into **{esc(result.target.name)}**: {esc(reason)}."
            f"{target_channel}",
        )
        await self._post(
            result.target,
            f"🔀 **{esc(result.source.name)}** merged into this chapter: "
            f"welcome to its {len(result.moved_user_ids)} member(s)!",
        )
        text = (
            f"Merged **{esc(result.source.name)}** into **{esc(result.target.name)}**: "
            f"{len(result.moved_user_ids)} member(s) moved.{roles_news}"
            f"{self._leftovers(result.source)}"
        )
        if problems:
            await self._tell_organizers_about(guild, result.target, problems)
            text += "\nSome members didn't get the role:\n" + bullets(problems)
        await interaction.followup.send(clip(text), ephemeral=True)
        await self.announce(result.target_transitions)

    @app_commands.command(
        name="set-status", description="Organizers: set a chapter's status by hand"
    )
    @app_commands.describe(
        chapter="The chapter", status="The new status", reason="Why (kept in its history)"
    )
    @app_commands.choices(status=STATUS_CHOICES)
    @organizer_only()
    async def set_status(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Known,
        status: app_commands.Choice[str],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        _guild, actor = guild_and_member(interaction)
        transition = await self.bot.services.chapters.set_status(
            chapter.guild_id, chapter.id, ChapterStatus(status.value), reason, actor.id
        )
        await interaction.response.send_message(
            f"**{esc(chapter.name)}** is now **{transition.chapter.status_label}**.", ephemeral=True
        )
        await self.announce([transition], by_hand=True)

    @app_commands.command(
        name="criteria", description="Organizers: what makes a chapter formal (no options: show)"
    )
    @app_commands.describe(
        min_members="Members a chapter needs (default 5)",
        meeting_months="Months in a row with a meeting with attendance (0 = not required)",
        require_agreements="Whether a chapter needs adopted agreements",
        key_roles="Roles that must be filled, comma separated (“none” for none)",
        map_min_members="Members a city needs to show as a best place on /chapter map",
        category="Category for new chapter channels",
    )
    @organizer_only()
    async def criteria(
        self,
        interaction: discord.Interaction[ChapterBot],
        min_members: app_commands.Range[int, 1, 1000] | None = None,
        meeting_months: app_commands.Range[int, 0, 12] | None = None,
        require_agreements: bool | None = None,
        key_roles: app_commands.Range[str, 1, 200] | None = None,
        map_min_members: app_commands.Range[int, 1, 100000] | None = None,
        category: discord.CategoryChannel | None = None,
    ) -> None:
        guild, _actor = guild_and_member(interaction)
        roles: tuple[str, ...] | None = None
        if key_roles is not None:
            parts = [p for p in key_roles.split(",") if p.strip()]
            if [p.strip().lower() for p in parts] == ["none"]:
                parts = []
            roles = tuple(dict.fromkeys(normalize_role(p) for p in parts))
        changes = {
            "min_members": min_members,
            "meeting_months": meeting_months,
            "require_agreements": require_agreements,
            "key_roles": roles,
            "map_min_members": map_min_members,
            "category_id": category.id if category else None,
        }
        settings_service = self.bot.services.chapter_settings
        if all(v is None for v in changes.values()):
            current = await settings_service.get(guild.id)
            await interaction.response.send_message(
                "**Chapter criteria** (pass options to change them):\n" + settings_text(current),
                ephemeral=True,
            )
            return
        updated = await settings_service.update(guild.id, **changes)
        # re-evaluating every chapter takes seconds in a big organization: answer first
        await interaction.response.defer(ephemeral=True, thinking=True)
        transitions = await self.bot.services.chapters.evaluate_guild(
            guild.id, trigger="a change of criteria"
        )
        moved = f"\n{len(transitions)} chapter(s) changed status." if transitions else ""
        await interaction.followup.send(
            "Saved. **Chapter criteria:**\n" + settings_text(updated) + moved, ephemeral=True
        )
        await self.announce(transitions)

    @app_commands.command(
        name="provision", description="Organizers: retry creating a chapter's role and channel"
    )
    @app_commands.describe(chapter="The chapter")
    @organizer_only()
    async def provision(
        self, interaction: discord.Interaction[ChapterBot], chapter: Active
    ) -> None:
        guild, _actor = guild_and_member(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self._provision(guild, chapter)
        role = report.role.mention if report.role else "none"
        channel = report.channel.mention if report.channel else "none"
        text = f"**{esc(chapter.name)}** · role: {role} · channel: {channel}"
        if report.created:
            text += f"\nCreated {', '.join(report.created)}."
        if report.roles:
            text += f"\n{report.roles}"
        if report.problems:
            text += "\nStill to fix:\n" + bullets(report.problems)
            text += "\nRun /chapter provision again once it's fixed."
        else:
            text += "\nEverything is in place."
        await interaction.followup.send(clip(text), ephemeral=True)

    # ------------------------------------------------------------------ the member map

    def _member_map(self) -> MemberMapService:
        return self.bot.services.member_map

    @app_commands.command(name="map", description="Where members are, by region and city")
    @app_commands.describe(
        min_members="Members a city needs to count as a best place (default: the server's)"
    )
    async def map_(
        self,
        interaction: discord.Interaction[ChapterBot],
        min_members: app_commands.Range[int, 1, 100000] | None = None,
    ) -> None:
        guild, _member = guild_and_member(interaction)
        service = self._member_map()
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await service.member_map(guild.id, min_members)
        embed = discord.Embed(
            title=f"Members by city ({result.total})",
            description=result.render(max_chars=4000) or "No member has said where they live yet.",
            colour=discord.Colour.blurple(),
        )
        footer = (
            f"★ = at least {result.min_members} members and no formal chapter: "
            "best places to form one"
        )
        embed.set_footer(text=footer)
        csv_file = discord.File(
            io.BytesIO(result.to_csv().encode("utf-8")), filename="members_by_city.csv"
        )
        await interaction.followup.send(embed=fit_embed(embed), file=csv_file, ephemeral=True)

    @region.command(name="set", description="Organizers: define a region from states and countries")
    @app_commands.describe(
        name="The region's name, e.g. West Coast",
        areas="Country or country-state codes, comma separated, e.g. US-CA, US-OR, CA-BC",
    )
    @organizer_only()
    async def region_set(
        self,
        interaction: discord.Interaction[ChapterBot],
        name: app_commands.Range[str, 1, 60],
        areas: app_commands.Range[str, 1, 1000],
    ) -> None:
        guild, _actor = guild_and_member(interaction)
        region = await self._member_map().set_region(guild.id, name, areas)
        # up to 200 areas, each maybe "(was in <a 60-character name>)": list what fits
        text = f"Region **{esc(region.name)}**: {join_inline(region.areas, 900)}."
        if region.moved:
            text += f"\nMoved here: {join_inline(region.moved, MESSAGE_MAX - len(text) - 20)}."
        await interaction.response.send_message(clip(text), ephemeral=True)

    @region.command(name="list", description="Organizers: your regions and their areas")
    @organizer_only()
    async def region_list(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild, _actor = guild_and_member(interaction)
        regions = await self._member_map().list_regions(guild.id)
        if not regions:
            text = (
                "No regions yet: cities are grouped by state and country. "
                "Define one with /chapter region set."
            )
        else:
            text = join_lines([f"**{esc(r.name)}**: {join_inline(r.areas, 400)}" for r in regions])
        await interaction.response.send_message(text, ephemeral=True)

    @region.command(name="remove", description="Organizers: remove one of your regions")
    @app_commands.describe(name="The region to remove")
    @organizer_only()
    async def region_remove(
        self, interaction: discord.Interaction[ChapterBot], name: app_commands.Range[str, 1, 60]
    ) -> None:
        guild, _actor = guild_and_member(interaction)
        await self._member_map().remove_region(guild.id, name)
        await interaction.response.send_message(
            f"Removed the region **{esc(name)}**.", ephemeral=True
        )

    @region_remove.autocomplete("name")
    @logged_autocomplete
    async def region_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        regions = await self._member_map().list_regions(interaction.guild_id)
        text = current.strip().lower()
        return [
            app_commands.Choice(name=r.name[:100], value=r.name[:100])
            for r in regions
            if text in r.name.lower()
        ][:25]
