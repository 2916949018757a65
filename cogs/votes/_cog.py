"""/vote: votes and elections. Reactions for public single/approval votes, persistent components
for the rest; the electorate is snapshotted at opening; results are posted at the close."""

from __future__ import annotations

import asyncio
import io
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import ensure_organizer, organizer_only
from bot.client import ChapterBot
from bot.errors import DomainError, InvalidInput
from bot.interactions import guild_and_member, guild_of, logged_autocomplete
from bot.limits import EMBEDS_TOTAL_MAX, clip, fit_embed
from bot.notify import notify_organizers
from bot.services.tally import Consent, Method
from bot.services.timers import TimerRecord
from bot.services.vote_chart import render_vote_chart
from bot.services.votes import (
    MemberFacts,
    ReactionEvent,
    Results,
    VoteDraft,
    VoteInfo,
    VoteService,
    contingency_template,
    parse_duration,
    results_csv,
)
from bot.text import bullets, esc, timestamp
from cogs.votes._render import emoji_for, list_line, option_of, results_embed, vote_embed
from cogs.votes._views import (
    COG_NAME,
    BlockReason,
    ContingencyForm,
    accept_view,
    ballot_view,
    pick_view,
    rank_view,
)
from db.models import ElectorateKind, VoteStatus

log = logging.getLogger(__name__)

MethodChoice = Literal["single", "approval", "ranked", "consent"]
ResultsChoice = Literal["hidden", "live"]
CHART_NAME = "results.png"
POLL_MAX_ANSWERS = 10
POLL_MAX_ANSWER_LENGTH = 55
POLL_MAX_QUESTION_LENGTH = 300
POLL_MAX_HOURS = 32 * 24
MESSAGE_CACHE = 10_000
BATCH = 500


class Votes(commands.Cog, name=COG_NAME):
    vote = app_commands.Group(name="vote", description="Votes and elections", guild_only=True)

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot
        # message id → vote (None: not a vote message), so reactions cost no query once seen
        self._messages: OrderedDict[int, VoteInfo | None] = OrderedDict()
        self._queues: dict[int, list[tuple[ReactionEvent, int]]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._removals: set[asyncio.Task[None]] = set()

    @property
    def votes(self) -> VoteService:
        return self.bot.services.votes

    async def cog_unload(self) -> None:
        for task in (*self._workers.values(), *self._removals):
            task.cancel()

    # ------------------------------------------------------------------ helpers

    async def _timezone(self, guild_id: int) -> str:
        return (await self.bot.services.guilds.get(guild_id)).timezone

    def _lock(self, vote_id: int) -> asyncio.Lock:
        return self._locks.setdefault(vote_id, asyncio.Lock())

    async def _electorate(
        self, guild: discord.Guild, text: str | None
    ) -> tuple[ElectorateKind, int | None]:
        """``server``, ``role:<id>``, ``chapter:<id>`` (autocomplete values) or a role or
        chapter name typed by hand."""
        value = (text or "server").strip()
        if value.lower() in ("server", "whole server", "everyone", "@everyone"):
            return ElectorateKind.SERVER, None
        kind, _, ident = value.partition(":")
        if kind == "role" and ident.isdigit() and guild.get_role(int(ident)):
            return ElectorateKind.ROLE, int(ident)
        if kind == "chapter" and ident.isdigit():
            chapter = await self.bot.services.chapters.get(guild.id, int(ident))
            return ElectorateKind.CHAPTER, chapter.id
        named = discord.utils.find(lambda r: r.name.lower() == value.lower(), guild.roles)
        if named is not None:
            return ElectorateKind.ROLE, named.id
        try:
            chapter = await self.bot.services.chapters.resolve(guild.id, value)
        except DomainError:
            raise InvalidInput(
                f"“{value[:60]}” is not a role or chapter here. Pick the electorate from the "
                "list: the whole server, a role or a chapter."
            ) from None
        return ElectorateKind.CHAPTER, chapter.id

    async def _vote_for(self, guild_id: int, vote_id: int) -> VoteInfo:
        return await self.votes.get(vote_id, guild_id)

    def _channel(self, vote: VoteInfo) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(vote.channel_id, guild_id=vote.guild_id)

    def _remember(self, message_id: int, vote: VoteInfo | None) -> None:
        self._messages[message_id] = vote
        self._messages.move_to_end(message_id)
        while len(self._messages) > MESSAGE_CACHE:
            self._messages.popitem(last=False)

    async def _vote_of_message(self, message_id: int) -> VoteInfo | None:
        if message_id in self._messages:
            return self._messages[message_id]
        vote = await self.votes.by_message(message_id)
        self._remember(message_id, vote)
        return vote

    # ------------------------------------------------------------------ autocomplete

    @logged_autocomplete
    async def vote_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild is None:
            return []
        votes = await self.votes.list_votes(interaction.guild.id, limit=100)
        text = current.strip().lstrip("#").lower()
        matching = [v for v in votes if text in f"{v.id} {v.title}".lower()]
        return [
            app_commands.Choice(name=f"#{v.id} {v.title} ({v.status.value})"[:100], value=v.id)
            for v in matching[:25]
        ]

    @logged_autocomplete
    async def electorate_autocomplete(
        self, interaction: discord.Interaction[ChapterBot], current: str
    ) -> list[app_commands.Choice[str]]:
        guild = interaction.guild
        if guild is None:
            return []
        text = current.strip().lower()
        choices = [app_commands.Choice(name="The whole server", value="server")]
        for role in guild.roles:
            if role.is_default() or role.managed or (text and text not in role.name.lower()):
                continue
            choices.append(
                app_commands.Choice(name=f"Role: {role.name}"[:100], value=f"role:{role.id}")
            )
        for chapter in await self.bot.services.chapters.search(guild.id, current, limit=10):
            choices.append(
                app_commands.Choice(
                    name=f"Chapter: {chapter.name}"[:100], value=f"chapter:{chapter.id}"
                )
            )
        return choices[:25]

    # ------------------------------------------------------------------ creating

    @vote.command(name="create", description="Organizers: start a vote")
    @app_commands.describe(
        title="What is being decided",
        closes="When it closes: a duration (30m, 2d, 1w) or YYYY-MM-DD HH:MM in server time",
        options="The options, separated by ; (2 to 20). Not for consent votes",
        method="single (one choice), approval (several), ranked, or consent",
        description="More context for voters",
        electorate="Who may vote: the whole server, a role or a chapter",
        quorum="Percent of the electorate that must vote",
        threshold="Percent needed to pass",
        results="hidden until the close (default) or live",
        secret="Secret ballot: nobody can see who voted for what",  # noqa: S106
        seats="How many options win (elections)",
        min_days="Only members for at least this many days may vote",
        opens="When it opens (default now): a duration or a date-time",
    )
    @app_commands.autocomplete(electorate=electorate_autocomplete)
    @organizer_only()
    async def create(
        self,
        interaction: discord.Interaction[ChapterBot],
        title: app_commands.Range[str, 1, 200],
        closes: app_commands.Range[str, 1, 40],
        options: app_commands.Range[str, 1, 1800] | None = None,
        method: MethodChoice = "single",
        description: app_commands.Range[str, 1, 1500] | None = None,
        electorate: app_commands.Range[str, 1, 100] | None = None,
        quorum: app_commands.Range[int, 1, 100] | None = None,
        threshold: app_commands.Range[int, 1, 100] | None = None,
        results: ResultsChoice = "hidden",
        secret: bool = False,
        seats: app_commands.Range[int, 1, 19] = 1,
        min_days: app_commands.Range[int, 0, 3650] = 0,
        opens: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        guild = guild_of(interaction)
        kind, target = await self._electorate(guild, electorate)
        draft = self.votes.draft(
            title=title,
            options=options,
            method=method,
            closes=closes,
            opens=opens,
            timezone=await self._timezone(guild.id),
            description=description or "",
            electorate=kind,
            electorate_id=target,
            quorum=quorum,
            threshold=threshold,
            live_results=results == "live",
            secret=secret,
            seats=seats,
            min_days=min_days,
        )
        await self._create_and_announce(interaction, draft)

    async def _create_and_announce(
        self, interaction: discord.Interaction[ChapterBot], draft: VoteDraft
    ) -> None:
        guild = guild_of(interaction)
        channel = interaction.channel
        if channel is None:
            raise InvalidInput("Run this in the channel where the vote should be posted.")
        warning = self._permission_warning(guild, channel, draft)
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self.votes.create(guild.id, channel.id, interaction.user.id, draft)
        if info.status is VoteStatus.NOMINATING:
            await self._announce_nominations(info)
            text = (
                f"Election #{info.id} created. Nominations close {timestamp(info.opens_at, 'F')}; "
                "members nominate with `/vote nominate`."
            )
        elif info.opens_at <= self.bot.services.clock.now():
            info = await self.open_vote(info.id)
            text = f"Vote #{info.id} is open until {timestamp(info.closes_at, 'F')}."
        else:
            text = (
                f"Vote #{info.id} opens {timestamp(info.opens_at, 'F')} and closes "
                f"{timestamp(info.closes_at, 'F')}."
            )
        await interaction.followup.send(text + warning, ephemeral=True)

    def _permission_warning(self, guild: discord.Guild, channel: object, draft: VoteDraft) -> str:
        if not isinstance(channel, discord.abc.GuildChannel):
            return ""
        perms = channel.permissions_for(guild.me)
        missing = [
            name
            for name, ok in (
                ("Send Messages", perms.send_messages),
                ("Embed Links", perms.embed_links),
                ("Attach Files", perms.attach_files),
            )
            if not ok
        ]
        if missing:
            raise InvalidInput(
                f"I need {', '.join(missing)} in this channel to post the vote and its results."
            )
        reactions = not draft.secret and draft.method in (Method.SINGLE, Method.APPROVAL)
        if reactions and not perms.add_reactions:
            raise InvalidInput("I need Add Reactions in this channel for a reaction vote.")
        if reactions and not perms.manage_messages:
            return (
                "\n⚠️ I lack **Manage Messages** here, so I can't remove replaced or ineligible "
                "reactions (they are still not counted). Give it to me in this channel."
            )
        return ""

    @vote.command(
        name="contingency", description="Organizers: the contingency vote for markers behind"
    )
    @app_commands.describe(closes="When it closes: a duration (e.g. 7d) or YYYY-MM-DD HH:MM")
    @organizer_only()
    async def contingency(
        self,
        interaction: discord.Interaction[ChapterBot],
        closes: app_commands.Range[str, 1, 40] = "7d",
    ) -> None:
        await self.show_contingency_form(interaction, closes)

    async def start_contingency_from_alert(
        self, interaction: discord.Interaction[ChapterBot]
    ) -> None:
        await ensure_organizer(interaction)
        await self.show_contingency_form(interaction, "7d")

    async def show_contingency_form(
        self, interaction: discord.Interaction[ChapterBot], closes: str
    ) -> None:
        guild = guild_of(interaction)
        report = await self.bot.services.markers.report(guild.id)
        title, description, options = contingency_template(report)
        self.votes.draft(  # check the closing time before the form is filled in
            title=title,
            options=list(options),
            method="single",
            closes=closes,
            timezone=await self._timezone(guild.id),
        )
        await interaction.response.send_modal(ContingencyForm(title, description, options, closes))

    async def create_contingency(
        self,
        interaction: discord.Interaction[ChapterBot],
        title: str,
        description: str,
        options: Sequence[str],
        closes: str,
    ) -> None:
        await ensure_organizer(interaction)
        guild = guild_of(interaction)
        draft = self.votes.draft(
            title=title,
            options=list(options),
            method="single",
            closes=closes,
            description=description,
            timezone=await self._timezone(guild.id),
            kind="contingency",
        )
        await self._create_and_announce(interaction, draft)

    @vote.command(
        name="election", description="Organizers: an election: nominations, then a ranked ballot"
    )
    @app_commands.describe(
        title="What the election is for, e.g. Conference delegates (West)",
        seats="How many are elected",
        closes="How long the ballot stays open after nominations, e.g. 3d",
        nominations="How long nominations stay open, e.g. 2d (default)",
        electorate="Who may vote: the whole server, a role or a chapter",
        secret="Secret ballot (default yes)",  # noqa: S106
        min_days="Only members for at least this many days may vote",
        description="More context for voters",
    )
    @app_commands.autocomplete(electorate=electorate_autocomplete)
    @organizer_only()
    async def election(
        self,
        interaction: discord.Interaction[ChapterBot],
        title: app_commands.Range[str, 1, 200],
        seats: app_commands.Range[int, 1, 19],
        closes: app_commands.Range[str, 1, 40],
        nominations: app_commands.Range[str, 1, 40] = "2d",
        electorate: app_commands.Range[str, 1, 100] | None = None,
        secret: bool = True,
        min_days: app_commands.Range[int, 0, 3650] = 0,
        description: app_commands.Range[str, 1, 1500] | None = None,
    ) -> None:
        guild = guild_of(interaction)
        kind, target = await self._electorate(guild, electorate)
        if parse_duration(nominations) is None:
            raise InvalidInput("`nominations` is a duration, like `2d` or `36h`.")
        draft = self.votes.draft(
            title=title,
            options=None,
            method="ranked",
            closes=closes,
            opens=nominations,
            timezone=await self._timezone(guild.id),
            description=description or "",
            electorate=kind,
            electorate_id=target,
            secret=secret,
            seats=seats,
            min_days=min_days,
            kind="election",
        )
        await self._create_and_announce(interaction, draft)

    async def _announce_nominations(self, info: VoteInfo) -> None:
        embed = discord.Embed(
            title=f"🗳️ Election: {info.title}"[:256],
            description=(
                (esc(info.description) + "\n\n" if info.description else "")
                + f"{info.seats} seat(s). Nominations are open until "
                f"{timestamp(info.opens_at, 'F')} ({timestamp(info.opens_at)}): nominate yourself "
                f"or another member with `/vote nominate vote:{info.id}`. A nominee must accept. "
                f"Then a ranked ballot opens until {timestamp(info.closes_at, 'F')}."
            ),
            colour=discord.Colour.blurple(),
        )
        embed.set_footer(text=f"Vote #{info.id}")
        await self._channel(info).send(embed=embed, nonce=f"vn{info.id}"[:25])

    @vote.command(name="nominate", description="Nominate yourself or another member in an election")
    @app_commands.describe(vote="The election", member="Who (default: you)")
    @app_commands.autocomplete(vote=vote_autocomplete)
    async def nominate(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote: int,
        member: discord.Member | None = None,
    ) -> None:
        guild, author = guild_and_member(interaction)
        nominee = member or author
        if nominee.bot:
            raise InvalidInput("Bots can't stand for election.")
        info = await self._vote_for(guild.id, vote)
        new = await self.votes.nominate(
            info.id, guild.id, nominee.id, nominee.display_name, by=author.id
        )
        if nominee.id == author.id:
            await interaction.response.send_message(
                f"You stand in “{esc(info.title)}”. Good luck!", ephemeral=True
            )
            return
        if not new:
            await interaction.response.send_message(
                f"{nominee.mention} is already nominated.", ephemeral=True
            )
            return
        await interaction.response.send_message(
            f"{nominee.mention}, {author.mention} nominated you in “{esc(info.title)}”. "
            "Accept to stand (nominations close "
            f"{timestamp(info.opens_at)}).",
            view=accept_view(info.id, nominee.id),
            allowed_mentions=discord.AllowedMentions(users=[nominee]),
        )

    async def accept_nomination(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, user_id: int
    ) -> None:
        if interaction.user.id != user_id:
            raise InvalidInput("Only the member nominated can accept.")
        info = await self.votes.accept(vote_id, user_id)
        await interaction.response.send_message(
            f"You stand in “{esc(info.title)}”.", ephemeral=True
        )

    # ------------------------------------------------------------------ opening

    async def open_vote(self, vote_id: int) -> VoteInfo:
        """Snapshot the electorate and post the ballot (once, even when retried)."""
        async with self._lock(vote_id):
            current = await self.votes.get(vote_id)
            guild = self.bot.get_guild(current.guild_id)
            if guild is None:
                raise RuntimeError(f"guild {current.guild_id} of vote {vote_id} is not available")
            members = [
                MemberFacts(
                    user_id=m.id,
                    joined_at=m.joined_at,
                    role_ids=frozenset(r.id for r in m.roles),
                    bot=m.bot,
                )
                for m in guild.members
            ]
            info, _ = await self.votes.open(vote_id, members)
            if info.message_id is not None or info.status is not VoteStatus.OPEN:
                return info
            channel = self._channel(info)
            nonce = f"vo{info.id}"[:25]
            if info.uses_reactions:
                message = await channel.send(embed=vote_embed(info), nonce=nonce)
            else:
                consent = info.method is Method.CONSENT
                message = await channel.send(
                    embed=vote_embed(info), nonce=nonce, view=ballot_view(info.id, consent=consent)
                )
            await self.votes.attach_message(info.id, message.id)
            info = await self.votes.get(info.id)
            self._remember(message.id, info)
        if info.uses_reactions:
            for option in range(len(info.options)):
                try:
                    await message.add_reaction(emoji_for(option))
                except discord.HTTPException:
                    log.warning(
                        "could not add reaction %d to vote %s", option, info.id, exc_info=True
                    )
                    break
        return info

    @commands.Cog.listener()
    async def on_vote_open_timer_complete(self, timer: TimerRecord) -> None:
        await self.open_vote(int(timer.payload["vote_id"]))

    @commands.Cog.listener()
    async def on_vote_nominations_close_timer_complete(self, timer: TimerRecord) -> None:
        vote_id = int(timer.payload["vote_id"])
        info = await self.votes.close_nominations(vote_id)
        if info.status is VoteStatus.CLOSED:
            return
        if len(info.options) <= info.seats:
            await self.post_results(await self.votes.close_unopposed(vote_id))
            return
        await self.open_vote(vote_id)

    # ------------------------------------------------------------------ component ballots

    async def open_ballot(self, interaction: discord.Interaction[ChapterBot], vote_id: int) -> None:
        info = await self.votes.get(vote_id)
        if info.status is not VoteStatus.OPEN or info.closes_at <= self.bot.services.clock.now():
            raise InvalidInput(f"Voting on “{info.title}” has closed.")
        await self.votes.check_voter(vote_id, interaction.user.id)
        current = await self.votes.ballot_of(vote_id, interaction.user.id)
        mine = self._ballot_text(info, current) if current else "You have not voted yet."
        if info.method is Method.RANKED:
            await interaction.response.send_message(
                f"**{esc(info.title)}**: rank as many as you like, best first. {mine}",
                view=rank_view(info.id, info.options, []),
                ephemeral=True,
            )
            return
        await interaction.response.send_message(
            f"**{esc(info.title)}**. {mine}",
            view=pick_view(info.id, info.options, multiple=info.method is Method.APPROVAL),
            ephemeral=True,
        )

    def _ballot_text(self, info: VoteInfo, choice: Sequence[int]) -> str:
        if not choice:
            return "Your ballot is withdrawn."
        if info.method is Method.RANKED:
            ranking = ", ".join(f"{n}. {esc(info.options[i])}" for n, i in enumerate(choice, 1))
            return f"Your ranking: {ranking}."
        picked = ", ".join(esc(info.options[i]) for i in choice)
        return f"Your ballot: {picked}."

    def _confirmation(self, info: VoteInfo, choice: Sequence[int]) -> str:
        return (
            f"✅ {self._ballot_text(info, choice)} You can change it until "
            f"{timestamp(info.closes_at, 'F')}."
        )

    async def pick(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, values: list[str]
    ) -> None:
        result = await self.votes.cast(vote_id, interaction.user.id, [int(v) for v in values])
        await interaction.response.edit_message(
            content=self._confirmation(result.vote, result.choice), view=None
        )

    async def rank(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote_id: int,
        picked: list[int],
        *,
        done: bool,
    ) -> None:
        info = await self.votes.get(vote_id)
        if done or len(picked) >= len(info.options):
            result = await self.votes.cast(vote_id, interaction.user.id, picked)
            await interaction.response.edit_message(
                content=self._confirmation(result.vote, result.choice), view=None
            )
            return
        so_far = ", ".join(f"{n}. {esc(info.options[i])}" for n, i in enumerate(picked, 1))
        await interaction.response.edit_message(
            content=f"**{esc(info.title)}**: {so_far}. Pick your next choice, or cast it now.",
            view=rank_view(vote_id, info.options, picked),
        )

    async def consent(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, choice: int
    ) -> None:
        if choice == Consent.BLOCK:
            await self.votes.check_voter(vote_id, interaction.user.id)
            await interaction.response.send_modal(BlockReason(vote_id))
            return
        result = await self.votes.cast(vote_id, interaction.user.id, [choice])
        await interaction.response.send_message(
            self._confirmation(result.vote, result.choice), ephemeral=True
        )

    async def block(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, reason: str
    ) -> None:
        result = await self.votes.cast(
            vote_id, interaction.user.id, [int(Consent.BLOCK)], reason=reason
        )
        await interaction.response.send_message(
            self._confirmation(result.vote, result.choice) + f" Reason: {esc(reason)}",
            ephemeral=True,
        )

    # ------------------------------------------------------------------ reactions

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        if payload.guild_id is None or self.bot.user is None or payload.user_id == self.bot.user.id:
            return
        vote = await self._vote_of_message(payload.message_id)
        if vote is None or not vote.uses_reactions or vote.status is VoteStatus.CLOSED:
            return
        option = option_of(payload.emoji.name)
        if option is None or option >= len(vote.options):
            if added:
                await self._remove_reactions(vote, [(str(payload.emoji), payload.user_id)])
            return
        event = ReactionEvent(user_id=payload.user_id, option=option, added=added)
        self._queues.setdefault(vote.id, []).append((event, payload.message_id))
        worker = self._workers.get(vote.id)
        if worker is None or worker.done():
            self._workers[vote.id] = asyncio.create_task(
                self._drain(vote), name=f"vote-{vote.id}-reactions"
            )

    async def _drain(self, vote: VoteInfo) -> None:
        """Apply queued reactions in order, many per transaction, one vote at a time."""
        queue = self._queues.setdefault(vote.id, [])
        while queue:
            batch, queue[:] = queue[:BATCH], queue[BATCH:]
            try:
                async with self._lock(vote.id):
                    outcomes = await self.votes.react_many(vote.id, [event for event, _ in batch])
            except Exception:
                # nothing of the batch was stored: re-read the reactions instead, so none is lost
                log.exception("reactions on vote %s could not be applied; reconciling", vote.id)
                try:
                    await self.reconcile(vote)
                except Exception:
                    log.exception(
                        "vote %s: reconcile failed too; the next session retries", vote.id
                    )
                continue
            removals: list[tuple[str, int]] = []
            for (event, _), outcome in zip(batch, outcomes, strict=True):
                if not event.added:
                    continue
                if outcome.refused is not None:
                    removals.append((emoji_for(event.option), event.user_id))
                elif vote.method is Method.SINGLE:
                    removals.extend(
                        (emoji_for(old), event.user_id)
                        for old in outcome.previous
                        if old != event.option
                    )
            if removals:  # paced by Discord's limits: never hold up the next batch for them
                task = asyncio.create_task(self._remove_reactions(vote, removals))
                self._removals.add(task)
                task.add_done_callback(self._removals.discard)

    async def _remove_reactions(self, vote: VoteInfo, removals: Sequence[tuple[str, int]]) -> None:
        if vote.message_id is None:
            return
        message = self._channel(vote).get_partial_message(vote.message_id)
        for emoji, user_id in removals:
            try:
                await message.remove_reaction(emoji, discord.Object(user_id))
            except discord.Forbidden:
                if await self.votes.note_missing_permission(vote.id):
                    await notify_organizers(
                        self.bot,
                        vote.guild_id,
                        f"I can't remove reactions on vote #{vote.id} “{vote.title}” in "
                        f"<#{vote.channel_id}>: give me **Manage Messages** in that channel. "
                        "Replaced and ineligible reactions stay visible but are not counted.",
                    )
                return
            except discord.HTTPException:
                log.warning("could not remove a reaction on vote %s", vote.id, exc_info=True)

    async def reconcile(self, vote: VoteInfo) -> None:
        """Re-read the vote's reactions over REST and make the ballots match them."""
        if vote.message_id is None:
            return
        try:
            message = await self._channel(vote).fetch_message(vote.message_id)
        except discord.NotFound:
            log.warning("the message of vote %s is gone; it is counted as it stands", vote.id)
            return
        bot_id = self.bot.user.id if self.bot.user else 0
        held: dict[int, set[int]] = {}
        for reaction in message.reactions:
            option = option_of(
                reaction.emoji if isinstance(reaction.emoji, str) else reaction.emoji.name
            )
            if option is None or option >= len(vote.options):
                continue
            held[option] = {u.id async for u in reaction.users(limit=None) if u.id != bot_id}
        async with self._lock(vote.id):
            outcome = await self.votes.reconcile(vote.id, held)
        if outcome.cast or outcome.withdrawn:
            log.info(
                "vote %s reconciled: %d ballot(s) cast, %d withdrawn while away",
                vote.id,
                outcome.cast,
                outcome.withdrawn,
            )
        await self._remove_reactions(
            vote, [(emoji_for(option), user) for option, user in outcome.remove]
        )

    @commands.Cog.listener()
    async def on_shard_ready(self, shard_id: int) -> None:
        """Every new session of a shard (the first, or after a fresh IDENTIFY, which replays
        nothing): reconcile the open reaction votes of that shard's guilds."""
        for vote in await self.votes.open_reaction_votes():
            guild = self.bot.get_guild(vote.guild_id)
            if guild is None or guild.shard_id != shard_id:
                continue
            try:
                await self.reconcile(vote)
            except Exception:
                log.exception("could not reconcile the reactions of vote %s", vote.id)

    # ------------------------------------------------------------------ closing

    @commands.Cog.listener()
    async def on_vote_close_timer_complete(self, timer: TimerRecord) -> None:
        vote_id = int(timer.payload["vote_id"])
        async with self._lock(vote_id):
            results, _ = await self.votes.close(vote_id)
        await self.post_results(results)

    @commands.Cog.listener()
    async def on_vote_nudge_timer_complete(self, timer: TimerRecord) -> None:
        await self.votes.nudge(int(timer.payload["vote_id"]))

    async def post_results(self, results: Results) -> None:
        """The results post: counts, outcome, rounds, chart and CSV (once, even when retried)."""
        vote = results.vote
        files = [
            discord.File(
                io.BytesIO(results_csv(results).encode()), filename=f"vote-{vote.id}-results.csv"
            )
        ]
        chart = None
        if results.tally.counts:
            png = await asyncio.to_thread(
                render_vote_chart,
                vote.title,
                results.labels,
                results.tally.counts,
                winners=results.decision.winners,
                first_preferences=vote.method is Method.RANKED,
            )
            files.insert(0, discord.File(io.BytesIO(png), filename=CHART_NAME))
            chart = CHART_NAME
        await self._channel(vote).send(
            embed=results_embed(results, chart=chart), files=files, nonce=f"vr{vote.id}"[:25]
        )
        if vote.message_id is not None:
            self._remember(vote.message_id, None)
            try:
                await (
                    self._channel(vote)
                    .get_partial_message(vote.message_id)
                    .edit(embed=vote_embed(vote).set_author(name="Closed"), view=None)
                )
            except discord.HTTPException:
                log.warning("could not mark vote %s closed on its message", vote.id, exc_info=True)

    @vote.command(name="close", description="Organizers: close a vote now, with a reason")
    @app_commands.describe(vote="The vote", reason="Why it closes early (recorded)")
    @app_commands.autocomplete(vote=vote_autocomplete)
    @organizer_only()
    async def close(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote: int,
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild = guild_of(interaction)
        info = await self._vote_for(guild.id, vote)
        if info.status is VoteStatus.CLOSED:
            raise InvalidInput(f"Vote #{vote} is already closed; see /vote show.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self._lock(vote):
            results, first = await self.votes.close(
                vote, by=interaction.user.id, reason=reason, guild_id=guild.id
            )
        if first:
            await self.post_results(results)
        await interaction.followup.send(
            f"Vote #{vote} is closed. {results.outcome_line()}", ephemeral=True
        )

    @vote.command(name="extend", description="Organizers: move a vote's closing time later")
    @app_commands.describe(
        vote="The vote",
        closes="How much longer (e.g. 2d) or the new YYYY-MM-DD HH:MM",
        reason="Why (recorded and shown)",
    )
    @app_commands.autocomplete(vote=vote_autocomplete)
    @organizer_only()
    async def extend(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote: int,
        closes: app_commands.Range[str, 1, 40],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild = guild_of(interaction)
        info = await self.votes.extend(
            vote, guild.id, closes, interaction.user.id, reason, await self._timezone(guild.id)
        )
        await interaction.response.send_message(
            f"Vote #{vote} now closes {timestamp(info.closes_at, 'F')}.", ephemeral=True
        )
        notice = (
            f"🗳️ Vote #{vote} “{esc(info.title)}” is extended: it now closes "
            f"{timestamp(info.closes_at, 'F')} ({timestamp(info.closes_at)}). Reason: {esc(reason)}"
        )
        channel = self._channel(info)
        await channel.send(notice)
        if info.message_id is not None:
            try:
                await channel.get_partial_message(info.message_id).edit(embed=vote_embed(info))
            except discord.HTTPException:
                log.warning("could not update the message of vote %s", vote, exc_info=True)

    @vote.command(
        name="outcome", description="Organizers: add the outcome statement to a closed vote"
    )
    @app_commands.describe(
        vote="The closed vote", statement="What was decided and what happens next"
    )
    @app_commands.autocomplete(vote=vote_autocomplete)
    @organizer_only()
    async def outcome(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote: int,
        statement: app_commands.Range[str, 1, 1500],
    ) -> None:
        guild = guild_of(interaction)
        info = await self.votes.set_outcome(vote, guild.id, statement, interaction.user.id)
        await self._channel(info).send(
            f"**Outcome of vote #{vote} “{esc(info.title)}”**: {esc(statement)}"
        )
        await interaction.response.send_message("Outcome statement posted.", ephemeral=True)

    @vote.command(
        name="add-voter", description="Organizers: let a member vote who was not in the electorate"
    )
    @app_commands.describe(vote="The open vote", member="The member to add")
    @app_commands.autocomplete(vote=vote_autocomplete)
    @organizer_only()
    async def add_voter(
        self, interaction: discord.Interaction[ChapterBot], vote: int, member: discord.Member
    ) -> None:
        guild = guild_of(interaction)
        if member.bot:
            raise InvalidInput("Bots don't vote.")
        added = await self.votes.add_voter(vote, guild.id, member.id, interaction.user.id)
        text = (
            f"{member.mention} can now vote in #{vote}."
            if added
            else f"{member.mention} was already in the electorate of #{vote}."
        )
        await interaction.response.send_message(text, ephemeral=True)

    # ------------------------------------------------------------------ reading

    @vote.command(name="list", description="Open and past votes")
    async def list_votes(self, interaction: discord.Interaction[ChapterBot]) -> None:
        guild = guild_of(interaction)
        votes = await self.votes.list_votes(guild.id, limit=25)
        open_votes = [v for v in votes if v.status is not VoteStatus.CLOSED]
        past = [v for v in votes if v.status is VoteStatus.CLOSED]
        parts = []
        if open_votes:
            parts.append("**Open**\n" + bullets(list_line(v) for v in open_votes))
        if past:
            parts.append("**Past**\n" + bullets(list_line(v) for v in past[:10]))
        text = "\n\n".join(parts) or "No votes yet. Organizers start one with /vote create."
        await interaction.response.send_message(clip(text), ephemeral=True)

    @vote.command(name="show", description="A vote: its rules, turnout and (when allowed) results")
    @app_commands.describe(vote="The vote")
    @app_commands.autocomplete(vote=vote_autocomplete)
    async def show(self, interaction: discord.Interaction[ChapterBot], vote: int) -> None:
        guild = guild_of(interaction)
        info = await self._vote_for(guild.id, vote)
        embeds = [vote_embed(info, turnout=await self.votes.turnout(vote))]
        if info.status is VoteStatus.CLOSED or (info.live_results and info.is_open):
            embeds.append(results_embed(await self.votes.results(vote)))
        if info.kind == "election" and info.status is VoteStatus.NOMINATING:
            nominees = await self.votes.nominations(vote)
            listing = bullets(
                f"{esc(name)}{'' if accepted else ' (not accepted yet)'}"
                for _, name, accepted in nominees
            )
            embeds.append(discord.Embed(title="Nominations", description=listing or "None yet."))
        budget = EMBEDS_TOTAL_MAX // len(embeds)
        await interaction.response.send_message(
            embeds=[fit_embed(embed, budget) for embed in embeds], ephemeral=True
        )

    # ------------------------------------------------------------------ quick polls

    @vote.command(name="quick", description="A quick native Discord poll (not anonymous)")
    @app_commands.describe(
        question="The question",
        answers="2 to 10 answers separated by ; (55 characters each at most)",
        duration="How long it runs: 1h to 32d (default 1d)",
        multiple="Allow picking several answers",
    )
    async def quick(
        self,
        interaction: discord.Interaction[ChapterBot],
        question: app_commands.Range[str, 1, 300],
        answers: app_commands.Range[str, 1, 1000],
        duration: app_commands.Range[str, 1, 20] = "1d",
        multiple: bool = False,
    ) -> None:
        guild_of(interaction)
        parts = [a.strip() for a in answers.split(";") if a.strip()]
        if len(parts) < 2:
            raise InvalidInput("A poll needs at least 2 answers, separated by `;`.")
        if len(parts) > POLL_MAX_ANSWERS:
            raise InvalidInput(
                f"Discord polls take at most {POLL_MAX_ANSWERS} answers; for more use /vote create."
            )
        too_long = [a for a in parts if len(a) > POLL_MAX_ANSWER_LENGTH]
        if too_long:
            raise InvalidInput(
                f"“{too_long[0][:30]}…” is {len(too_long[0])} characters; Discord polls allow "
                f"{POLL_MAX_ANSWER_LENGTH} per answer."
            )
        if len({a.casefold() for a in parts}) != len(parts):
            raise InvalidInput("Two answers are the same; make each different.")
        length = parse_duration(duration)
        if (
            length is None
            or length < timedelta(hours=1)
            or length > timedelta(hours=POLL_MAX_HOURS)
        ):
            raise InvalidInput("The duration is from `1h` to `32d` (Discord's limit for polls).")
        hours = max(1, int(length.total_seconds() // 3600))
        poll = discord.Poll(question=question, duration=timedelta(hours=hours), multiple=multiple)
        for answer in parts:
            poll.add_answer(text=answer)
        await interaction.response.send_message(
            "Quick poll. Not anonymous: everyone can see who picked what. "
            "For secret or binding votes use /vote create.",
            poll=poll,
        )
