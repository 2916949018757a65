"""Votes and elections: creating, opening (electorate snapshot), ballots, closing, results.

The cog turns Discord into calls here and renders what comes back; nothing here knows Discord.
Every state change is one transaction; a ballot's uniqueness is the database's primary key, so a
reaction and a button click racing for the same member cannot both count.

Secret votes: the ballot row is keyed by ``sha256(salt:vote:member)`` with a random per-vote salt
that is erased at close; ballots of secret votes carry no time and the audit trail records no
ballot events, so after close nothing links a member to a choice. Who voted (not how) is kept for
turnout and nudges.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.services.effects import EffectService, direct_message
from bot.services.markers import BEHIND, MISSED, NO_PACE, MarkersReport
from bot.services.meetings import quiet_hours_end
from bot.services.sanitize import require_row_id
from bot.services.tally import (
    CONSENT_LABELS,
    Decision,
    Method,
    Outcome,
    Round,
    Tally,
    decide,
    round_table,
    tally,
)
from bot.services.timers import TimerService
from db.models import (
    ChapterMember,
    ElectorateKind,
    ReminderPreference,
    Vote,
    VoteBallot,
    VoteEvent,
    VoteNomination,
    VoteStatus,
    VoteVoter,
)
from db.session import Sessions

OPEN_EVENT = "vote_open"
CLOSE_EVENT = "vote_close"
NOMINATIONS_EVENT = "vote_nominations_close"
NUDGE_EVENT = "vote_nudge"
NUDGE_BEFORE = timedelta(hours=24)

MIN_OPTIONS = 2
MAX_OPTIONS = 20
MAX_OPTION_LENGTH = 80
MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 1500
MAX_REASON_LENGTH = 500
MAX_DAYS_AHEAD = 90
MIN_DURATION = timedelta(minutes=5)

CONTINGENCY_OPTIONS = (
    "Redefine the markers or what it means to be a chapter",
    "Change the required number of chapters",
    "Push the deadline forward 6 months",
)

_DURATION = re.compile(r"^(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


# ------------------------------------------------------------------------------ parsing


def parse_options(text: str) -> list[str]:
    """``a; b; c`` → the options, refusing too few, too many, too long and duplicates."""
    options = [part.strip() for part in text.split(";") if part.strip()]
    if len(options) < MIN_OPTIONS:
        raise InvalidInput(
            "A vote needs at least 2 options, separated by `;` (e.g. `Yes; No; Later`)."
        )
    if len(options) > MAX_OPTIONS:
        raise InvalidInput(f"A vote takes at most {MAX_OPTIONS} options; you gave {len(options)}.")
    for option in options:
        if len(option) > MAX_OPTION_LENGTH:
            raise InvalidInput(
                f"Option “{option[:40]}…” is {len(option)} characters; "
                f"keep each option to {MAX_OPTION_LENGTH}."
            )
    seen: set[str] = set()
    for option in options:
        key = " ".join(option.casefold().split())
        if key in seen:
            raise InvalidInput(f"“{option}” is listed twice; each option must be different.")
        seen.add(key)
    return options


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``2d``, ``1w``, ``1d12h`` → a timedelta; None if ``text`` is not a duration."""
    match = _DURATION.match(text.strip().lower())
    if not match or not any(match.groups()):
        return None
    weeks, days, hours, minutes = (int(group or 0) for group in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


def parse_when(
    text: str, now: datetime, timezone: str, *, start: datetime | None = None
) -> datetime:
    """A duration from ``start`` (default now) or a date-time in the server's timezone."""
    base = start or now
    duration = parse_duration(text)
    if duration is not None:
        return base + duration
    for fmt in _DATE_FORMATS:
        try:
            local = datetime.strptime(text.strip(), fmt)  # noqa: DTZ007 - zone attached next
        except ValueError:
            continue
        zone = zoneinfo.ZoneInfo(timezone)
        return local.replace(tzinfo=zone).astimezone(UTC)
    raise InvalidInput(
        f"“{text[:40]}” is neither a duration (like `30m`, `2d`, `1w`) nor a date-time "
        f"(`YYYY-MM-DD HH:MM`, in the server's timezone {timezone})."
    )


def _check_window(opens: datetime, closes: datetime, now: datetime) -> None:
    if opens < now - timedelta(minutes=1):
        raise InvalidInput("The vote can't open in the past; leave `opens` empty to open now.")
    if closes <= now:
        raise InvalidInput("That closing time is in the past; give a later one (e.g. `2d`).")
    if closes - opens < MIN_DURATION:
        raise InvalidInput("A vote must stay open at least 5 minutes after it opens.")
    if closes - now > timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(f"A vote can close at most {MAX_DAYS_AHEAD} days from now.")


def voter_key(salt: str | None, vote_id: int, user_id: int) -> str:
    """The ballot key: the member id for public votes, a salted hash for secret ones."""
    if salt is None:
        return str(user_id)
    return hashlib.sha256(f"{salt}:{vote_id}:{user_id}".encode()).hexdigest()


def lot_order(vote_id: int, options: int) -> list[int]:
    """The tie-breaking lot: fixed by the vote's id, so anyone can recompute it."""
    return sorted(
        range(options), key=lambda i: hashlib.sha256(f"lot:{vote_id}:{i}".encode()).hexdigest()
    )


# ------------------------------------------------------------------------------ data


@dataclass(frozen=True, slots=True)
class VoteDraft:
    """What an organizer asked for, already parsed (``VoteService.draft`` builds it)."""

    title: str
    options: tuple[str, ...]
    method: Method
    opens_at: datetime
    closes_at: datetime
    description: str = ""
    electorate: ElectorateKind = ElectorateKind.SERVER
    electorate_id: int | None = None
    quorum: int | None = None
    threshold: int | None = None
    live_results: bool = False
    secret: bool = False
    seats: int = 1
    min_days: int = 0
    kind: str = "vote"


@dataclass(frozen=True, slots=True)
class VoteInfo:
    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    kind: str
    title: str
    description: str
    method: Method
    options: tuple[str, ...]
    seats: int
    quorum: int | None
    threshold: int | None
    live_results: bool
    secret: bool
    min_days: int
    electorate: ElectorateKind
    electorate_id: int | None
    status: VoteStatus
    opens_at: datetime
    closes_at: datetime
    created_by: int
    closed_at: datetime | None
    close_reason: str | None
    outcome_statement: str | None
    candidate_ids: tuple[int, ...] = ()

    @property
    def uses_reactions(self) -> bool:
        """Public single and approval votes are cast with reactions; the rest with components."""
        return not self.secret and self.method in (Method.SINGLE, Method.APPROVAL)

    @property
    def is_open(self) -> bool:
        return self.status is VoteStatus.OPEN

    @classmethod
    def of(cls, row: Vote) -> VoteInfo:
        return cls(
            id=row.id,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            message_id=row.message_id,
            kind=row.kind,
            title=row.title,
            description=row.description,
            method=Method(row.method),
            options=tuple(row.options),
            seats=row.seats,
            quorum=row.quorum,
            threshold=row.threshold,
            live_results=row.live_results,
            secret=row.secret,
            min_days=row.min_days,
            electorate=ElectorateKind(row.electorate),
            electorate_id=row.electorate_id,
            status=VoteStatus(row.status),
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            created_by=row.created_by,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
            outcome_statement=row.outcome_statement,
            candidate_ids=tuple(row.candidate_ids or ()),
        )


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the snapshot needs to know of a member (the cog reads it from Discord)."""

    user_id: int
    joined_at: datetime | None
    role_ids: frozenset[int] = frozenset()
    bot: bool = False


@dataclass(frozen=True, slots=True)
class CastResult:
    vote: VoteInfo
    choice: tuple[int, ...]  # the ballot now ((): withdrawn)
    previous: tuple[int, ...]  # the ballot before ((): none)

    @property
    def changed(self) -> bool:
        return self.choice != self.previous


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    user_id: int
    option: int
    added: bool


@dataclass(frozen=True, slots=True)
class ReactionOutcome:
    previous: tuple[int, ...]
    choice: tuple[int, ...]
    refused: str | None = None  # why the reaction does not count (the cog removes it)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What re-reading a reaction vote's reactions changed, and which reactions must go."""

    cast: int = 0
    withdrawn: int = 0
    remove: tuple[tuple[int, int], ...] = ()  # (option, user): extra or ineligible reactions
    ineligible: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Results:
    vote: VoteInfo
    tally: Tally
    decision: Decision
    labels: tuple[str, ...]

    @property
    def final(self) -> bool:
        return self.vote.status is VoteStatus.CLOSED

    def winners_text(self) -> str:
        return ", ".join(self.labels[i] for i in self.decision.winners)

    def outcome_line(self) -> str:
        decision = self.decision
        outcome = decision.outcome
        if outcome is Outcome.CHOSEN:
            line = f"Chosen: **{self.winners_text()}**"
        elif outcome is Outcome.ELECTED:
            line = f"Elected: **{self.winners_text()}**" if decision.winners else "Nobody elected"
        else:
            line = f"Outcome: **{outcome.value}**"
        if decision.explanation:
            line += f". {decision.explanation}"
        if self.tally.by_lot:
            line += " A tie was broken by the vote's lot."
        return line

    def turnout_line(self) -> str:
        d = self.decision
        line = f"Turnout: {d.turnout} of {d.electorate} ({d.turnout_percent:.0f}%)"
        if self.vote.quorum is not None:
            line += f", quorum {self.vote.quorum}% {'met' if d.quorum_met else 'not met'}"
        return line

    def count_lines(self) -> list[str]:
        t = self.tally
        head = "first preferences" if t.method is Method.RANKED else "votes"
        return [
            f"{label}: {_number(t.counts[i])} {head} ({t.percent(i):.1f}%)"
            for i, label in enumerate(self.labels)
        ]

    def rounds_table(self) -> str:
        return round_table(self.tally, self.labels)


# ------------------------------------------------------------------------------ service


class VoteService:
    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        timers: TimerService,
        effects: EffectService,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timers = timers
        self._effects = effects

    # ---------------------------------------------------------------- creating

    def draft(
        self,
        *,
        title: str,
        options: str | Sequence[str] | None,
        method: str,
        closes: str,
        timezone: str,
        opens: str | None = None,
        description: str = "",
        electorate: ElectorateKind = ElectorateKind.SERVER,
        electorate_id: int | None = None,
        quorum: int | None = None,
        threshold: int | None = None,
        live_results: bool = False,
        secret: bool = False,
        seats: int = 1,
        min_days: int = 0,
        kind: str = "vote",
    ) -> VoteDraft:
        """Check everything an organizer typed, before anything is created."""
        try:
            chosen = Method(method)
        except ValueError:
            raise InvalidInput(
                "The method is one of single, approval, ranked or consent."
            ) from None
        title = title.strip()
        if not title:
            raise InvalidInput("Give the vote a title.")
        if len(title) > MAX_TITLE_LENGTH:
            raise InvalidInput(f"Keep the title to {MAX_TITLE_LENGTH} characters.")
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput(f"Keep the description to {MAX_DESCRIPTION_LENGTH} characters.")
        if kind == "election" and chosen is not Method.RANKED:
            raise InvalidInput("Elections use ranked ballots.")
        if kind == "election":
            parsed: list[str] = []  # the accepted nominees, when nominations close
        elif chosen is Method.CONSENT:
            if options and (isinstance(options, str) and options.strip()):
                raise InvalidInput(
                    "A consent vote has fixed answers (agree, abstain, disagree, block); "
                    "put the proposal in the title and description and leave `options` empty."
                )
            parsed = list(CONSENT_LABELS)
        elif options is None or (isinstance(options, str) and not options.strip()):
            raise InvalidInput("List the options, separated by `;` (e.g. `Yes; No; Later`).")
        else:
            parsed = parse_options(options if isinstance(options, str) else ";".join(options))
        for name, value in (("quorum", quorum), ("threshold", threshold)):
            if value is not None and not 1 <= value <= 100:
                raise InvalidInput(f"The {name} is a percentage from 1 to 100.")
        if not 0 <= min_days <= 3650:
            raise InvalidInput("`min_days` is a number of days from 0 to 3650.")
        if seats < 1:
            raise InvalidInput("There must be at least one seat.")
        if seats > 1 and chosen is Method.CONSENT:
            raise InvalidInput("A consent vote decides one proposal; seats don't apply.")
        if seats > 1 and chosen is Method.SINGLE:
            raise InvalidInput(
                "For several seats use `approval` or `ranked` (one choice can't fill them)."
            )
        if parsed and chosen is not Method.CONSENT and seats >= len(parsed):
            raise InvalidInput(
                f"{seats} seat(s) for {len(parsed)} options elects everyone; "
                "give more options than seats."
            )
        now = self._clock.now()
        opens_at = now if not opens else parse_when(opens, now, timezone)
        closes_at = parse_when(closes, now, timezone, start=opens_at)
        _check_window(opens_at, closes_at, now)
        return VoteDraft(
            title=title,
            options=tuple(parsed),
            method=chosen,
            opens_at=max(opens_at, now),
            closes_at=closes_at,
            description=description.strip(),
            electorate=electorate,
            electorate_id=electorate_id,
            quorum=quorum,
            threshold=threshold,
            live_results=live_results,
            secret=secret,
            seats=seats,
            min_days=min_days,
            kind=kind,
        )

    async def create(
        self, guild_id: int, channel_id: int, created_by: int, draft: VoteDraft
    ) -> VoteInfo:
        """Store the vote and arm its timers; the caller opens it now if ``opens_at`` has come."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = Vote(
                guild_id=guild_id,
                channel_id=channel_id,
                kind=draft.kind,
                title=draft.title,
                description=draft.description,
                method=draft.method.value,
                options=list(draft.options),
                candidate_ids=[],
                seats=draft.seats,
                quorum=draft.quorum,
                threshold=draft.threshold,
                live_results=draft.live_results,
                secret=draft.secret,
                min_days=draft.min_days,
                electorate=draft.electorate,
                electorate_id=draft.electorate_id,
                status=VoteStatus.NOMINATING if draft.kind == "election" else VoteStatus.SCHEDULED,
                opens_at=draft.opens_at,
                closes_at=draft.closes_at,
                created_by=created_by,
                created_at=now,
                salt=secrets.token_hex(32) if draft.secret else None,
                reactions_missing_permission=False,
            )
            session.add(row)
            await session.flush()
            self._event(session, row.id, "created", created_by, draft.title)
            info = VoteInfo.of(row)
        event = NOMINATIONS_EVENT if draft.kind == "election" else OPEN_EVENT
        await self._timers.create_timer(
            draft.opens_at, event, {"vote_id": info.id}, key=f"vote:{info.id}:open"
        )
        await self._timers.replace_timer(
            draft.closes_at, CLOSE_EVENT, {"vote_id": info.id}, key=f"vote:{info.id}:close"
        )
        await self._arm_nudge(info.id, draft.closes_at)
        return info

    async def _arm_nudge(self, vote_id: int, closes_at: datetime) -> None:
        """One nudge, 24 hours before the close (moved when the vote is extended)."""
        when = closes_at - NUDGE_BEFORE
        key = f"vote:{vote_id}:nudge"
        if when <= self._clock.now():
            async with self._sessions.write() as session:
                await self._timers.cancel_keys(session, [key])
            return
        await self._timers.replace_timer(when, NUDGE_EVENT, {"vote_id": vote_id}, key=key)

    async def nudge(self, vote_id: int) -> int:
        """DM every member of the electorate who has not voted and has not turned reminders off,
        once per vote (the outbox sends it; its dedupe key makes a second nudge impossible, even
        after an extension)."""
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id)
            if row.status is not VoteStatus.OPEN or row.message_id is None:
                return 0
            users = list(
                await session.scalars(
                    select(VoteVoter.user_id).where(
                        VoteVoter.vote_id == row.id, VoteVoter.voted.is_(False)
                    )
                )
            )
            prefs = {
                pref.user_id: pref
                for pref in await session.scalars(
                    select(ReminderPreference).where(
                        ReminderPreference.guild_id == row.guild_id,
                        ReminderPreference.user_id.in_(users),
                    )
                )
            }
            now = self._clock.now()
            # /reminders: off means no nudge; in quiet hours it waits until they end, and is
            # dropped if the vote closes first
            delays: dict[int, timedelta] = {}
            for user in list(users):
                pref = prefs.get(user)
                if pref is None:
                    continue
                quiet_end = quiet_hours_end(pref, now) if pref.enabled else None
                if not pref.enabled or (quiet_end is not None and quiet_end >= row.closes_at):
                    users.remove(user)
                elif quiet_end is not None:
                    delays[user] = quiet_end - now
            link = f"https://discord.com/channels/{row.guild_id}/{row.channel_id}/{row.message_id}"
            closes = int(row.closes_at.timestamp())
            requests = [
                direct_message(
                    user,
                    purpose="vote_nudge",
                    dedupe_key=f"vote:{row.id}:nudge:{user}",
                    content=(
                        f"The vote “{row.title[:200]}” closes <t:{closes}:R> and you have not "
                        f"voted yet: {link}"
                    ),
                    guild_id=row.guild_id,
                    lane=f"vote_nudge:{row.id}",
                    describe=f"nudge <@{user}> to vote in #{row.id}",
                )
                for user in users
            ]
            requests = [
                replace(request, delay=delays.get(user, timedelta(0)))
                for user, request in zip(users, requests, strict=True)
            ]
            await self._effects.enqueue(session, *requests)
            self._event(session, row.id, "nudged", None, f"{len(users)} members")
            return len(users)

    async def open(self, vote_id: int, members: Iterable[MemberFacts]) -> tuple[VoteInfo, bool]:
        """Snapshot the electorate and open the vote; (info, False) if it was already open."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, lock=True)
            if row.status in (VoteStatus.OPEN, VoteStatus.CLOSED):
                return VoteInfo.of(row), False
            if row.status is VoteStatus.NOMINATING:
                raise Conflict("Nominations are still open; the ballot opens when they close.")
            eligible = await self._electorate(session, row, members, now)
            session.add_all(
                VoteVoter(vote_id=row.id, user_id=user, voted=False) for user in eligible
            )
            row.status = VoteStatus.OPEN
            self._event(session, row.id, "opened", None, f"{len(eligible)} eligible voters")
            return VoteInfo.of(row), True

    async def _electorate(
        self, session: AsyncSession, row: Vote, members: Iterable[MemberFacts], now: datetime
    ) -> set[int]:
        cutoff = now - timedelta(days=row.min_days)
        pool = [m for m in members if not m.bot]
        if row.min_days:
            pool = [m for m in pool if m.joined_at is not None and m.joined_at <= cutoff]
        if row.electorate is ElectorateKind.ROLE:
            pool = [m for m in pool if row.electorate_id in m.role_ids]
        elif row.electorate is ElectorateKind.CHAPTER:
            in_chapter = set(
                await session.scalars(
                    select(ChapterMember.user_id).where(
                        ChapterMember.chapter_id == row.electorate_id
                    )
                )
            )
            pool = [m for m in pool if m.user_id in in_chapter]
        return {m.user_id for m in pool}

    async def attach_message(self, vote_id: int, message_id: int) -> None:
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id)
            row.message_id = message_id

    async def note_missing_permission(self, vote_id: int) -> bool:
        """Record that reactions could not be removed; True the first time (tell organizers)."""
        async with self._sessions.write() as session:
            result = await session.execute(
                update(Vote)
                .where(Vote.id == vote_id, Vote.reactions_missing_permission.is_(False))
                .values(reactions_missing_permission=True)
            )
            return bool(getattr(result, "rowcount", 0))

    # ---------------------------------------------------------------- reading

    async def get(self, vote_id: int, guild_id: int | None = None) -> VoteInfo:
        require_row_id(vote_id, what="vote")  # ids come from custom_ids and options: user input
        async with self._sessions.read() as session:
            row = await session.get(Vote, vote_id)
            if row is None or (guild_id is not None and row.guild_id != guild_id):
                raise NotFound(f"There is no vote #{vote_id} in this server; see /vote list.")
            return VoteInfo.of(row)

    async def by_message(self, message_id: int) -> VoteInfo | None:
        async with self._sessions.read() as session:
            row = await session.scalar(select(Vote).where(Vote.message_id == message_id))
            return VoteInfo.of(row) if row else None

    async def list_votes(
        self, guild_id: int, *, open_only: bool = False, limit: int = 25
    ) -> list[VoteInfo]:
        async with self._sessions.read() as session:
            query = select(Vote).where(Vote.guild_id == guild_id)
            if open_only:
                query = query.where(Vote.status != VoteStatus.CLOSED)
            rows = await session.scalars(query.order_by(Vote.id.desc()).limit(limit))
            return [VoteInfo.of(row) for row in rows]

    async def open_reaction_votes(self) -> list[VoteInfo]:
        """Open votes cast with reactions (reconciled after a restart or a new session)."""
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(Vote).where(
                    Vote.status == VoteStatus.OPEN,
                    Vote.secret.is_(False),
                    Vote.method.in_([Method.SINGLE.value, Method.APPROVAL.value]),
                    Vote.message_id.is_not(None),
                )
            )
            return [VoteInfo.of(row) for row in rows]

    async def ballot_of(self, vote_id: int, user_id: int) -> tuple[int, ...]:
        """The member's current ballot (for showing it back to them); () if none."""
        async with self._sessions.read() as session:
            row = await self._row(session, vote_id)
            ballot = await session.get(VoteBallot, (vote_id, voter_key(row.salt, vote_id, user_id)))
            return tuple(ballot.choice) if ballot else ()

    async def turnout(self, vote_id: int) -> tuple[int, int]:
        """(ballots cast, electorate size)."""
        async with self._sessions.read() as session:
            voted = await session.scalar(
                select(func.count()).where(VoteVoter.vote_id == vote_id, VoteVoter.voted.is_(True))
            )
            size = await session.scalar(select(func.count()).where(VoteVoter.vote_id == vote_id))
            return voted or 0, size or 0

    async def non_voters(self, vote_id: int) -> list[int]:
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(VoteVoter.user_id).where(
                    VoteVoter.vote_id == vote_id, VoteVoter.voted.is_(False)
                )
            )
            return sorted(rows)

    async def audit(self, vote_id: int) -> list[tuple[datetime, str, int | None, str]]:
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(VoteEvent).where(VoteEvent.vote_id == vote_id).order_by(VoteEvent.id)
            )
            return [(r.at, r.action, r.actor_id, r.detail) for r in rows]

    # ---------------------------------------------------------------- ballots

    async def cast(
        self,
        vote_id: int,
        user_id: int,
        choice: Sequence[int],
        *,
        reason: str | None = None,
    ) -> CastResult:
        """Record (or replace) the member's ballot; an empty ``choice`` withdraws it."""
        async with self._sessions.write() as session:
            row = await self._open_row(session, vote_id)
            cleaned = _validate_choice(row, choice, reason)
            for attempt in range(2):
                try:
                    async with session.begin_nested():
                        return await self._write_ballot(session, row, user_id, cleaned, reason)
                except IntegrityError:
                    if attempt:
                        raise
            raise AssertionError("unreachable")

    async def react(self, vote_id: int, user_id: int, option: int, *, added: bool) -> CastResult:
        """A reaction added or removed on a reaction vote.

        ``single``: a new reaction replaces the ballot (``previous`` tells which reaction to
        remove); removing the reaction of the current choice withdraws it, removing any other is
        ignored (it is the bot taking away a replaced one). ``approval``: toggles the option.
        """
        async with self._sessions.write() as session:
            row = await self._open_row(session, vote_id)
            if not 0 <= option < len(row.options):
                raise InvalidInput("That reaction is not one of the vote's options.")
            key = voter_key(row.salt, row.id, user_id)
            ballot = await session.get(VoteBallot, (row.id, key))
            current = tuple(ballot.choice) if ballot else ()
            new = _after_reaction(Method(row.method), current, option, added)
            if new == current:
                return CastResult(VoteInfo.of(row), current, current)
            for attempt in range(2):
                try:
                    async with session.begin_nested():
                        return await self._write_ballot(session, row, user_id, new, None)
                except IntegrityError:
                    if attempt:
                        raise
            raise AssertionError("unreachable")

    async def _write_ballot(
        self,
        session: AsyncSession,
        row: Vote,
        user_id: int,
        choice: tuple[int, ...],
        reason: str | None,
    ) -> CastResult:
        voter = await session.get(VoteVoter, (row.id, user_id))
        if voter is None:
            raise NotAllowed(_not_in_electorate(row))
        key = voter_key(row.salt, row.id, user_id)
        ballot = await session.get(VoteBallot, (row.id, key), populate_existing=True)
        previous = tuple(ballot.choice) if ballot else ()
        stamp = None if row.secret else self._clock.now()
        if not choice:
            if ballot is not None:
                await session.delete(ballot)
        elif ballot is None:
            session.add(
                VoteBallot(
                    vote_id=row.id,
                    voter_key=key,
                    choice=list(choice),
                    reason=reason,
                    updated_at=stamp,
                )
            )
        else:
            ballot.choice = list(choice)
            ballot.reason = reason
            ballot.updated_at = stamp
        voter.voted = bool(choice)
        await session.flush()
        if not row.secret and choice != previous:
            action = "withdrawn" if not choice else ("changed" if previous else "cast")
            detail = f"{list(previous)} -> {list(choice)}"
            if reason:
                detail += f" reason: {reason}"
            self._event(session, row.id, action, user_id, detail)
        return CastResult(VoteInfo.of(row), choice, previous)

    async def check_voter(self, vote_id: int, user_id: int) -> None:
        """Refuse early (before a ballot form is shown) a member who cannot vote now."""
        async with self._sessions.read() as session:
            row = await self._open_row(session, vote_id)
            if await session.get(VoteVoter, (row.id, user_id)) is None:
                raise NotAllowed(_not_in_electorate(row))

    async def react_many(
        self, vote_id: int, events: Sequence[ReactionEvent]
    ) -> list[ReactionOutcome]:
        """Apply reactions in arrival order, all in one transaction (a burst of thousands of
        reactions costs a few commits, not thousands). Members outside the electorate are told
        why, once per vote, through the outbox."""
        for attempt in range(2):
            try:
                return await self._react_many(vote_id, events)
            except IntegrityError:  # another process wrote the same ballot first: redo
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _react_many(
        self, vote_id: int, events: Sequence[ReactionEvent]
    ) -> list[ReactionOutcome]:
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id)
            now = self._clock.now()
            refusal = None
            if row.status is VoteStatus.CLOSED or now >= row.closes_at:
                refusal = f"Voting on “{row.title}” has closed."
            elif row.status is not VoteStatus.OPEN:
                refusal = f"Voting on “{row.title}” has not opened yet."
            outcomes: list[ReactionOutcome] = []
            told: list[int] = []
            users = {event.user_id for event in events}
            keys = {user: voter_key(row.salt, row.id, user) for user in users}
            eligible = set(
                await session.scalars(
                    select(VoteVoter.user_id).where(
                        VoteVoter.vote_id == row.id, VoteVoter.user_id.in_(users)
                    )
                )
            )
            stored = {
                ballot.voter_key: ballot
                for ballot in await session.scalars(
                    select(VoteBallot).where(
                        VoteBallot.vote_id == row.id, VoteBallot.voter_key.in_(keys.values())
                    )
                )
            }
            before = {
                user: tuple(stored[keys[user]].choice) if keys[user] in stored else ()
                for user in users
            }
            now_held = dict(before)
            changes: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []
            method = Method(row.method)
            for event in events:
                if refusal is not None or not 0 <= event.option < len(row.options):
                    outcomes.append(ReactionOutcome((), (), refusal or "Not an option."))
                    continue
                if event.user_id not in eligible:
                    if event.added and event.user_id not in told:
                        told.append(event.user_id)
                    outcomes.append(ReactionOutcome((), (), _not_in_electorate(row)))
                    continue
                current = now_held[event.user_id]
                new = _after_reaction(method, current, event.option, event.added)
                now_held[event.user_id] = new
                outcomes.append(ReactionOutcome(current, new))
                if new != current:
                    changes.append((event.user_id, current, new))
            await self._store_ballots(session, row, keys, stored, before, now_held, changes)
            if told:
                await self._effects.enqueue(
                    session,
                    *(
                        direct_message(
                            user,
                            purpose="vote_ineligible",
                            dedupe_key=f"vote:{row.id}:ineligible:{user}",
                            content="Your reaction was removed. " + _not_in_electorate(row),
                            guild_id=row.guild_id,
                            lane=f"vote_ineligible:{row.id}",
                            describe=f"tell <@{user}> why their vote in #{row.id} was removed",
                        )
                        for user in told
                    ),
                )
            return outcomes

    async def _store_ballots(
        self,
        session: AsyncSession,
        row: Vote,
        keys: Mapping[int, str],
        stored: Mapping[str, VoteBallot],
        before: Mapping[int, tuple[int, ...]],
        after: Mapping[int, tuple[int, ...]],
        changes: Sequence[tuple[int, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        """Write a batch's net effect: one row per member, the turnout flags, the audit trail."""
        stamp = None if row.secret else self._clock.now()
        voted: list[int] = []
        withdrawn: list[int] = []
        for user, choice in after.items():
            if choice == before[user]:
                continue
            ballot = stored.get(keys[user])
            if not choice:
                if ballot is not None:
                    await session.delete(ballot)
                withdrawn.append(user)
                continue
            if ballot is None:
                session.add(
                    VoteBallot(
                        vote_id=row.id,
                        voter_key=keys[user],
                        choice=list(choice),
                        reason=None,
                        updated_at=stamp,
                    )
                )
            else:
                ballot.choice = list(choice)
                ballot.updated_at = stamp
            voted.append(user)
        for users, flag in ((voted, True), (withdrawn, False)):
            if users:
                await session.execute(
                    update(VoteVoter)
                    .where(VoteVoter.vote_id == row.id, VoteVoter.user_id.in_(users))
                    .values(voted=flag)
                )
        if not row.secret:
            for user, previous, choice in changes:
                action = "withdrawn" if not choice else ("changed" if previous else "cast")
                self._event(session, row.id, action, user, f"{list(previous)} -> {list(choice)}")

    async def reconcile(
        self, vote_id: int, reactions: Mapping[int, Iterable[int]]
    ) -> Reconciliation:
        """Make the ballots of a reaction vote match its reactions (read over REST).

        ``reactions`` maps option → the members who hold that reaction now. Votes cast while the
        bot was away count once; reactions removed meanwhile withdraw the ballot. For ``single``
        a member holding several reactions keeps their stored choice if it is among them, else the
        lowest option; the other reactions are to be removed, as are ineligible members'.
        """
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, lock=True)
            if row.status is not VoteStatus.OPEN:
                return Reconciliation()
            eligible = set(
                await session.scalars(select(VoteVoter.user_id).where(VoteVoter.vote_id == row.id))
            )
            held: dict[int, set[int]] = {}
            for option, users in reactions.items():
                for user in users:
                    held.setdefault(user, set()).add(option)
            stored = {
                b.voter_key: tuple(b.choice)
                for b in await session.scalars(
                    select(VoteBallot).where(VoteBallot.vote_id == row.id)
                )
            }
            remove: list[tuple[int, int]] = []
            ineligible: list[int] = []
            desired: dict[int, tuple[int, ...]] = {}
            for user, options in held.items():
                if user not in eligible:
                    ineligible.append(user)
                    remove.extend((option, user) for option in sorted(options))
                    continue
                if row.method == Method.SINGLE.value:
                    current = stored.get(str(user), ())
                    keep = current[0] if current and current[0] in options else min(options)
                    desired[user] = (keep,)
                    remove.extend((option, user) for option in sorted(options) if option != keep)
                else:
                    desired[user] = tuple(sorted(options))
            cast = withdrawn = 0
            for user in eligible:
                want = desired.get(user, ())
                have = stored.get(str(user), ())
                if want == have:
                    continue
                await self._write_ballot(session, row, user, want, None)
                if want:
                    cast += 1
                else:
                    withdrawn += 1
            return Reconciliation(cast, withdrawn, tuple(remove), tuple(sorted(ineligible)))

    # ---------------------------------------------------------------- organizers

    async def add_voter(self, vote_id: int, guild_id: int, user_id: int, by: int) -> bool:
        """Add a member to the electorate; False if they were already in it."""
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, guild_id=guild_id)
            if row.status is VoteStatus.CLOSED:
                raise Conflict("That vote is closed; voters can no longer be added.")
            if row.status is not VoteStatus.OPEN:
                raise Conflict(
                    "The electorate is taken when the vote opens; add voters after that."
                )
            if await session.get(VoteVoter, (row.id, user_id)) is not None:
                return False
            session.add(VoteVoter(vote_id=row.id, user_id=user_id, added_by=by, voted=False))
            self._event(session, row.id, "voter_added", by, str(user_id))
            return True

    async def extend(
        self, vote_id: int, guild_id: int, closes: str, by: int, reason: str, timezone: str
    ) -> VoteInfo:
        reason = _reason(reason)
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, guild_id=guild_id)
            if row.status is VoteStatus.CLOSED:
                raise Conflict("That vote is already closed.")
            new = parse_when(closes, now, timezone, start=row.closes_at)
            if new <= row.closes_at:
                raise InvalidInput(
                    "The new closing time must be later than the current one; "
                    "use /vote close to end it early."
                )
            if new - now > timedelta(days=MAX_DAYS_AHEAD):
                raise InvalidInput(f"A vote can close at most {MAX_DAYS_AHEAD} days from now.")
            old = row.closes_at
            row.closes_at = new
            self._event(
                session, row.id, "extended", by, f"{old.isoformat()} -> {new.isoformat()}: {reason}"
            )
            info = VoteInfo.of(row)
        await self._timers.replace_timer(
            new, CLOSE_EVENT, {"vote_id": vote_id}, key=f"vote:{vote_id}:close"
        )
        await self._arm_nudge(vote_id, new)
        return info

    async def close(
        self,
        vote_id: int,
        *,
        by: int | None = None,
        reason: str | None = None,
        guild_id: int | None = None,
    ) -> tuple[Results, bool]:
        """Close and count: (results, True) the first time; later calls return the same results."""
        now = self._clock.now()
        if by is not None:
            reason = _reason(reason or "")
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, guild_id=guild_id, lock=True)
            if row.status is VoteStatus.CLOSED:
                return await self._results(session, row), False
            if row.status is VoteStatus.NOMINATING:
                if by is None:
                    return await self._results(session, row), False
                row.candidate_ids = []
            row.status = VoteStatus.CLOSED
            row.closed_at = now
            row.closed_by = by
            row.close_reason = reason
            row.salt = None  # from here on no ballot can be linked to a member
            results = await self._results(session, row)
            row.result = _result_json(results)
            detail = results.outcome_line() + (f" (closed early: {reason})" if reason else "")
            self._event(session, row.id, "closed", by, detail)
            results = Results(VoteInfo.of(row), results.tally, results.decision, results.labels)
            await self._timers.cancel_keys(
                session, [f"vote:{vote_id}:{timer}" for timer in ("close", "open", "nudge")]
            )
        return results, True

    async def results(self, vote_id: int) -> Results:
        async with self._sessions.read() as session:
            row = await self._row(session, vote_id)
            return await self._results(session, row)

    async def set_outcome(self, vote_id: int, guild_id: int, text: str, by: int) -> VoteInfo:
        text = text.strip()
        if not text:
            raise InvalidInput("Write the outcome statement.")
        if len(text) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput(f"Keep the statement to {MAX_DESCRIPTION_LENGTH} characters.")
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, guild_id=guild_id)
            if row.status is not VoteStatus.CLOSED:
                raise Conflict("The outcome statement comes after the vote closes.")
            row.outcome_statement = text
            self._event(session, row.id, "outcome", by, text)
            return VoteInfo.of(row)

    # ---------------------------------------------------------------- elections

    async def nominate(
        self, vote_id: int, guild_id: int, user_id: int, display_name: str, by: int
    ) -> bool:
        """Nominate a member; accepted at once when they nominate themselves. True if new."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, guild_id=guild_id)
            if row.kind != "election":
                raise InvalidInput("Nominations are for elections (/vote election).")
            if row.status is not VoteStatus.NOMINATING:
                raise Conflict("Nominations for that election are closed.")
            existing = await session.get(VoteNomination, (row.id, user_id))
            if existing is not None:
                if user_id == by and existing.accepted_at is None:
                    existing.accepted_at = now
                    self._event(session, row.id, "accepted", by, display_name)
                return False
            count = await session.scalar(
                select(func.count()).where(VoteNomination.vote_id == row.id)
            )
            if (count or 0) >= MAX_OPTIONS:
                raise Conflict(f"An election takes at most {MAX_OPTIONS} candidates.")
            session.add(
                VoteNomination(
                    vote_id=row.id,
                    user_id=user_id,
                    display_name=display_name[:100],
                    nominated_by=by,
                    nominated_at=now,
                    accepted_at=now if user_id == by else None,
                )
            )
            self._event(session, row.id, "nominated", by, f"{user_id} {display_name}")
            return True

    async def accept(self, vote_id: int, user_id: int) -> VoteInfo:
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id)
            if row.status is not VoteStatus.NOMINATING:
                raise Conflict("Nominations for that election are closed.")
            nomination = await session.get(VoteNomination, (row.id, user_id))
            if nomination is None:
                raise NotFound("You have not been nominated in that election.")
            if nomination.accepted_at is None:
                nomination.accepted_at = now
                self._event(session, row.id, "accepted", user_id, nomination.display_name)
            return VoteInfo.of(row)

    async def nominations(self, vote_id: int) -> list[tuple[int, str, bool]]:
        """(member, name, accepted) in nomination order."""
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(VoteNomination)
                .where(VoteNomination.vote_id == vote_id)
                .order_by(VoteNomination.nominated_at, VoteNomination.user_id)
            )
            return [(r.user_id, r.display_name, r.accepted_at is not None) for r in rows]

    async def close_nominations(self, vote_id: int) -> VoteInfo:
        """Accepted candidates become the ballot's options; the vote is then ready to open.

        With no more candidates than seats there is nothing to choose: they are elected
        unopposed and the vote closes.
        """
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, lock=True)
            if row.status is not VoteStatus.NOMINATING:
                return VoteInfo.of(row)
            accepted = (
                await session.scalars(
                    select(VoteNomination)
                    .where(
                        VoteNomination.vote_id == row.id,
                        VoteNomination.accepted_at.is_not(None),
                    )
                    .order_by(VoteNomination.nominated_at, VoteNomination.user_id)
                )
            ).all()
            row.options = [n.display_name for n in accepted]
            row.candidate_ids = [n.user_id for n in accepted]
            row.status = VoteStatus.SCHEDULED
            self._event(session, row.id, "nominations_closed", None, f"{len(accepted)} candidates")
            return VoteInfo.of(row)

    async def close_unopposed(self, vote_id: int) -> Results:
        """Elect every candidate when there are no more candidates than seats."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._row(session, vote_id, lock=True)
            row.status = VoteStatus.CLOSED
            row.closed_at = now
            row.salt = None
            count = len(row.options)
            result = Tally(Method(row.method), row.seats, 0, (), winners=tuple(range(count)))
            decision = Decision(
                Outcome.ELECTED if count else Outcome.NO_VOTES,
                tuple(range(count)),
                0,
                0,
                True,
                "Elected unopposed: no more candidates than seats."
                if count
                else "Nobody accepted a nomination.",
            )
            results = Results(VoteInfo.of(row), result, decision, tuple(row.options))
            row.result = _result_json(results)
            self._event(session, row.id, "closed", None, results.outcome_line())
            await self._timers.cancel_keys(
                session, [f"vote:{vote_id}:close", f"vote:{vote_id}:nudge"]
            )
        return results

    # ---------------------------------------------------------------- helpers

    async def _row(
        self,
        session: AsyncSession,
        vote_id: int,
        *,
        guild_id: int | None = None,
        lock: bool = False,
    ) -> Vote:
        require_row_id(vote_id, what="vote")  # ids come from custom_ids and options: user input
        query = select(Vote).where(Vote.id == vote_id)
        if lock:
            query = query.with_for_update()
        row = await session.scalar(query)
        if row is None or (guild_id is not None and row.guild_id != guild_id):
            raise NotFound(f"There is no vote #{vote_id} in this server; see /vote list.")
        return row

    async def _open_row(self, session: AsyncSession, vote_id: int) -> Vote:
        row = await self._row(session, vote_id)
        now = self._clock.now()
        if row.status is VoteStatus.CLOSED or now >= row.closes_at:
            raise Conflict(f"Voting on “{row.title}” has closed.")
        if row.status is not VoteStatus.OPEN:
            raise Conflict(f"Voting on “{row.title}” has not opened yet.")
        return row

    async def _results(self, session: AsyncSession, row: Vote) -> Results:
        ballots = [
            tuple(choice)
            for choice in await session.scalars(
                select(VoteBallot.choice).where(VoteBallot.vote_id == row.id)
            )
        ]
        size = await session.scalar(select(func.count()).where(VoteVoter.vote_id == row.id))
        options = len(row.options)
        method = Method(row.method)
        if options == 0:
            counted = Tally(method, row.seats, 0, (), winners=())
        else:
            counted = tally(
                method, options, ballots, seats=row.seats, lot=lot_order(row.id, options)
            )
        decision = decide(
            counted,
            cast=len(ballots),
            electorate=size or 0,
            quorum=row.quorum,
            threshold=row.threshold,
        )
        return Results(VoteInfo.of(row), counted, decision, tuple(row.options))

    def _event(
        self, session: AsyncSession, vote_id: int, action: str, actor: int | None, detail: str
    ) -> None:
        session.add(
            VoteEvent(
                vote_id=vote_id,
                action=action,
                actor_id=actor,
                detail=detail,
                at=self._clock.now(),
            )
        )


# ------------------------------------------------------------------------------ rendering


def _number(value: Any) -> str:
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason; it is recorded with the vote.")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"Keep the reason to {MAX_REASON_LENGTH} characters.")
    return reason


def _not_in_electorate(row: Vote) -> str:
    who = {
        ElectorateKind.SERVER: "the server's members",
        ElectorateKind.ROLE: "the members holding the vote's role",
        ElectorateKind.CHAPTER: "the members of the vote's chapter",
    }[ElectorateKind(row.electorate)]
    since = f" who had been here {row.min_days} days" if row.min_days else ""
    return (
        f"You are not in the electorate of “{row.title}”: it is {who}{since} when it opened. "
        "An organizer can add you with /vote add-voter."
    )


def _after_reaction(
    method: Method, current: tuple[int, ...], option: int, added: bool
) -> tuple[int, ...]:
    """A reaction's effect: single replaces (removing the current choice withdraws it; removing
    another is the bot taking away a replaced reaction), approval toggles."""
    if method is Method.SINGLE:
        if added:
            return (option,)
        return () if current == (option,) else current
    chosen = set(current)
    if added:
        chosen.add(option)
    else:
        chosen.discard(option)
    return tuple(sorted(chosen))


def _validate_choice(row: Vote, choice: Sequence[int], reason: str | None) -> tuple[int, ...]:
    options = len(row.options)
    if any(not 0 <= option < options for option in choice):
        raise InvalidInput("That choice is not on the ballot.")
    method = Method(row.method)
    if method in (Method.SINGLE, Method.CONSENT) and len(choice) > 1:
        raise InvalidInput("Pick one option.")
    if method is Method.RANKED and len(set(choice)) != len(choice):
        raise InvalidInput("Rank each option at most once.")
    if method is Method.APPROVAL:
        choice = sorted(set(choice))
    if method is Method.CONSENT and tuple(choice) == (3,):
        if not reason or not reason.strip():
            raise InvalidInput("A block needs a reason: say what would have to change.")
        if len(reason) > MAX_REASON_LENGTH:
            raise InvalidInput(f"Keep the reason to {MAX_REASON_LENGTH} characters.")
    return tuple(choice)


def _fraction(value: Any) -> str:
    return str(value)


def _round_json(stage: Round) -> dict[str, Any]:
    return {
        "number": stage.number,
        "note": stage.note,
        "tallies": [None if v is None else _fraction(v) for v in stage.tallies],
        "exhausted": _fraction(stage.exhausted),
        "elected": list(stage.elected),
        "excluded": list(stage.excluded),
    }


def _result_json(results: Results) -> dict[str, Any]:
    t, d = results.tally, results.decision
    return {
        "outcome": d.outcome.value,
        "winners": list(d.winners),
        "turnout": d.turnout,
        "electorate": d.electorate,
        "counts": [_fraction(c) for c in t.counts],
        "ballots": t.ballots,
        "quota": t.quota,
        "rounds": [_round_json(r) for r in t.rounds],
        "by_lot": t.by_lot,
    }


def results_csv(results: Results) -> str:
    """The export: counts and percentages, the rounds of a ranked count, and the ballots
    themselves without voters, sorted so their order says nothing about who cast them."""
    out = io.StringIO()
    writer = csv.writer(out)
    vote = results.vote
    writer.writerow(["vote", vote.id, vote.title])
    writer.writerow(["method", vote.method.value, "seats", vote.seats])
    writer.writerow(["outcome", results.decision.outcome.value, results.winners_text()])
    writer.writerow(
        ["turnout", results.decision.turnout, "electorate", results.decision.electorate]
    )
    writer.writerow([])
    writer.writerow(["option", "votes", "percent"])
    for i, label in enumerate(results.labels):
        count = results.tally.counts[i] if results.tally.counts else 0
        writer.writerow([label, _number(count), f"{results.tally.percent(i):.1f}"])
    if results.tally.rounds:
        writer.writerow([])
        writer.writerow(["round", *results.labels, "exhausted", "note"])
        for stage in results.tally.rounds:
            writer.writerow(
                [
                    stage.number,
                    *("" if v is None else _number(v) for v in stage.tallies),
                    _number(stage.exhausted),
                    stage.note,
                ]
            )
    return out.getvalue()


def contingency_template(report: MarkersReport) -> tuple[str, str, tuple[str, ...]]:
    """Title, description and options of a contingency vote, from the markers that are behind."""
    behind = [
        p for p in report.markers if p.target is not None and p.status in (BEHIND, NO_PACE, MISSED)
    ]
    lines = []
    for p in behind:
        assert p.deadline is not None
        projected = (
            f"projected {p.projected:%Y-%m-%d}" if p.projected else "not reached at this pace"
        )
        lines.append(
            f"• {p.title}: {p.current:,} of {p.target:,} by {p.deadline:%Y-%m-%d} ({projected})"
        )
    if not lines:
        lines.append("No marker is behind right now.")
    description = "Markers behind:\n" + "\n".join(lines) + "\n\nWhich contingency do we take?"
    options = list(CONTINGENCY_OPTIONS)
    deadlines = [p.deadline for p in behind if p.deadline is not None]
    if deadlines:
        pushed = min(deadlines) + timedelta(days=182)
        options[2] = f"Push the deadline forward 6 months (to {pushed:%Y-%m-%d})"
    return "Contingency vote: markers at risk", description, tuple(options)
