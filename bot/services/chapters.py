"""Chapters: proposal, membership, roles, agreements and the status lifecycle.

A chapter lives in one canonical city (a gazetteer :class:`Place`) and goes
``forming`` → ``formal`` → ``at_risk`` → ``lapsed`` (plus ``archived`` and ``merged``). Its status
is evaluated against the guild's criteria (:mod:`bot.services.chapter_settings`):

* forming → formal when every criterion is met;
* formal → at_risk when they stop being met; at_risk → formal when met again;
* at_risk → lapsed after :data:`LAPSE_AFTER` at risk;
* lapsed, archived and merged chapters are only changed by hand (``set_status``).

Every method that changes an input of the evaluation (join, leave, role assignment, agreement
adopted, settings change) evaluates the chapter in the same transaction and returns the
:class:`Transition` it caused, so the caller can announce it. Every transition is written to
``chapter_status_change`` with its time, reason and actor.

Discord ids (role, channel) are recorded here, but creating them is the cog's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.services.chapter_settings import ChapterSettingsView, load_chapter_settings
from bot.services.places import CONTINENT_NAMES, Gazetteer, Place, normalize
from db.models import (
    Chapter,
    ChapterAgreement,
    ChapterMeeting,
    ChapterMember,
    ChapterRoleAssignment,
    ChapterStatus,
    ChapterStatusChange,
    OrganizerRegion,
)

__all__ = [
    "ACTIVE_STATUSES",
    "AGREEMENT_MAX_CHARS",
    "KNOWN_ROLES",
    "LAPSE_AFTER",
    "NAME_MAX_CHARS",
    "ROTATING_ROLES",
    "STATUS_LABELS",
    "AgreementView",
    "ChapterDetails",
    "ChapterService",
    "ChapterStatus",
    "ChapterView",
    "CriteriaReport",
    "CriterionResult",
    "MemberView",
    "MembershipChange",
    "MergeResult",
    "RoleChange",
    "RoleHolder",
    "RotationResult",
    "StatusChangeView",
    "Transition",
    "clean_name",
    "normalize_role",
]

#: How long a chapter may stay at risk before it lapses.
LAPSE_AFTER = timedelta(days=60)
NAME_MAX_CHARS = 80
AGREEMENT_MAX_CHARS = 1000
REASON_MAX_CHARS = 500
ROLE_MAX_CHARS = 40
#: Roles offered by autocomplete; any other short role name is accepted too.
KNOWN_ROLES = ("facilitator", "note-taker", "outreach", "treasurer")
#: The empowering jobs that /chapter roles rotate hands round.
ROTATING_ROLES = ("facilitator", "note-taker")
#: Statuses of a chapter that still exists (blocks a second chapter in its city).
ACTIVE_STATUSES = (
    ChapterStatus.FORMING,
    ChapterStatus.FORMAL,
    ChapterStatus.AT_RISK,
    ChapterStatus.LAPSED,
)
#: Statuses the daily evaluation may change.
EVALUATED_STATUSES = (ChapterStatus.FORMING, ChapterStatus.FORMAL, ChapterStatus.AT_RISK)
STATUS_LABELS: dict[ChapterStatus, str] = {
    ChapterStatus.FORMING: "forming",
    ChapterStatus.FORMAL: "formal",
    ChapterStatus.AT_RISK: "at risk",
    ChapterStatus.LAPSED: "lapsed",
    ChapterStatus.ARCHIVED: "archived",
    ChapterStatus.MERGED: "merged",
}
_ROLE_ALIASES = {"notetaker": "note-taker", "note": "note-taker", "facilitation": "facilitator"}
_ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
_MENTION = re.compile(r"<(?:@[!&]?|#|/[^:>]*:)\d+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------- text helpers


def clean_name(text: str, *, what: str = "Chapter names", limit: int = NAME_MAX_CHARS) -> str:
    """A name safe for a Discord role or message: no mentions, no @everyone/@here, no control
    characters, single spaces. Raises InvalidInput if too long or empty."""
    name = unicodedata.normalize("NFKC", text)
    name = _CONTROL.sub("", name)
    name = _SPACES.sub(" ", name).strip()
    if len(name) > limit:
        raise InvalidInput(
            f"{what} can be at most {limit} characters (yours has {len(name)}). Try a shorter one."
        )
    name = _MENTION.sub("", name).replace("@", "")
    name = _SPACES.sub(" ", name).strip(" -")
    if not name:
        raise InvalidInput(f"{what} need some letters or digits. Try something like “Chicago”.")
    return name


def _clean_text(text: str, *, what: str, limit: int) -> str:
    """Free text (agreements, reasons): trimmed and length-checked; mentions are neutralized at
    render time with allowed_mentions, so the text itself is kept as written."""
    value = unicodedata.normalize("NFKC", text).replace("\x00", "").strip()
    if not value:
        raise InvalidInput(f"The {what} can't be empty. Write a short sentence.")
    if len(value) > limit:
        raise InvalidInput(
            f"The {what} can be at most {limit} characters (yours has {len(value)}). "
            "Shorten it or split it in two."
        )
    return value


def _name_key(name: str) -> str:
    return normalize(name)[:NAME_MAX_CHARS] or name.lower()[:NAME_MAX_CHARS]


def normalize_role(text: str) -> str:
    """``"Note taker"`` → ``"note-taker"``. Raises InvalidInput for names that can't be roles."""
    key = _SPACES.sub("-", text.strip().lower().replace("_", " ")).strip("-")
    key = _ROLE_ALIASES.get(key, key)
    if not key or len(key) > ROLE_MAX_CHARS or not _ROLE_PATTERN.match(key):
        raise InvalidInput(
            f"Role names are short words like {', '.join(KNOWN_ROLES)} "
            f"(letters, digits and hyphens, at most {ROLE_MAX_CHARS} characters)."
        )
    return key


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months, clamping the day (31 March - 1 month = 28/29 Feb)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    next_index = index + 1
    first_of_next = moment.replace(year=next_index // 12, month=next_index % 12 + 1, day=1)
    last_day = (first_of_next - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class ChapterView:
    id: int
    guild_id: int
    name: str
    geoname_id: int
    city_label: str
    region_code: str
    region_name: str
    country_code: str
    continent_code: str
    timezone: str
    status: ChapterStatus
    role_id: int | None
    channel_id: int | None
    member_count: int
    rotate_roles: bool
    created_by: int
    created_at: datetime
    status_changed_at: datetime
    merged_into_id: int | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def continent_name(self) -> str:
        return CONTINENT_NAMES.get(self.continent_code, self.continent_code)


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: int
    is_founder: bool
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class RoleHolder:
    role: str
    user_id: int
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class AgreementView:
    id: int
    chapter_id: int
    text: str
    proposed_by: int
    created_at: datetime
    adopted_at: datetime | None
    adopted_by: int | None

    @property
    def adopted(self) -> bool:
        return self.adopted_at is not None


@dataclass(frozen=True, slots=True)
class StatusChangeView:
    from_status: ChapterStatus | None
    to_status: ChapterStatus
    reason: str
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CriterionResult:
    key: str  # "members", "meetings", "agreements", "roles"
    label: str
    met: bool
    required: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CriteriaReport:
    results: tuple[CriterionResult, ...]
    last_meeting_at: datetime | None = None

    @property
    def met(self) -> bool:
        return all(result.met for result in self.results)

    @property
    def missing(self) -> tuple[CriterionResult, ...]:
        return tuple(result for result in self.results if not result.met)

    def summary(self) -> str:
        return "; ".join(result.detail for result in self.results if result.required)

    def missing_summary(self) -> str:
        return "; ".join(result.detail for result in self.missing)


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change that just happened (to announce)."""

    chapter: ChapterView
    from_status: ChapterStatus | None
    to_status: ChapterStatus
    reason: str
    at: datetime
    automatic: bool


@dataclass(frozen=True, slots=True)
class ChapterDetails:
    chapter: ChapterView
    members: tuple[MemberView, ...]
    roles: tuple[RoleHolder, ...]
    agreements: tuple[AgreementView, ...]
    criteria: CriteriaReport
    history: tuple[StatusChangeView, ...]
    settings: ChapterSettingsView
    merged_into: ChapterView | None = None

    @property
    def founders(self) -> tuple[int, ...]:
        return tuple(m.user_id for m in self.members if m.is_founder)

    def holder(self, role: str) -> int | None:
        return next((r.user_id for r in self.roles if r.role == role), None)


@dataclass(frozen=True, slots=True)
class MembershipChange:
    chapter: ChapterView
    user_id: int
    vacated_roles: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleChange:
    chapter: ChapterView
    role: str
    user_id: int
    previous_user_id: int | None
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class RotationResult:
    chapter: ChapterView
    holders: tuple[RoleHolder, ...]
    previous: tuple[RoleHolder, ...]
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementChange:
    agreement: AgreementView
    chapter: ChapterView
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeResult:
    source: ChapterView
    target: ChapterView
    moved_user_ids: tuple[int, ...]
    transitions: tuple[Transition, ...] = ()


def _view(chapter: Chapter, member_count: int) -> ChapterView:
    return ChapterView(
        id=chapter.id,
        guild_id=chapter.guild_id,
        name=chapter.name,
        geoname_id=chapter.geoname_id,
        city_label=chapter.city_label,
        region_code=chapter.region_code,
        region_name=chapter.region_name or "",
        country_code=chapter.country_code,
        continent_code=chapter.continent_code,
        timezone=chapter.timezone,
        status=ChapterStatus(chapter.status),
        role_id=chapter.role_id,
        channel_id=chapter.channel_id,
        member_count=member_count,
        rotate_roles=bool(chapter.rotate_roles),
        created_by=chapter.created_by,
        created_at=chapter.created_at,
        status_changed_at=chapter.status_changed_at,
        merged_into_id=chapter.merged_into_id,
    )


def _agreement_view(row: ChapterAgreement) -> AgreementView:
    return AgreementView(
        id=row.id,
        chapter_id=row.chapter_id,
        text=row.text,
        proposed_by=row.proposed_by,
        created_at=row.created_at,
        adopted_at=row.adopted_at,
        adopted_by=row.adopted_by,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- the service


class ChapterService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        places: Gazetteer,
        *,
        lapse_after: timedelta = LAPSE_AFTER,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._places = places
        self.lapse_after = lapse_after

    # ------------------------------------------------------------------ lookups

    async def get(self, guild_id: int, chapter_id: int) -> ChapterView:
        async with self._sessions() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            return await self._view(session, chapter)

    async def resolve(
        self, guild_id: int, text: str, *, include_inactive: bool = False
    ) -> ChapterView:
        """The chapter a command option names: an id (autocomplete value), a name or a city.

        Raises NotFound with the closest names when nothing matches."""
        query = text.strip()
        if not query:
            raise InvalidInput("Name a chapter: start typing and pick one from the list.")
        async with self._sessions() as session:
            rows = await self._guild_chapters(session, guild_id, include_inactive=True)
            usable = [c for c in rows if include_inactive or c.status in ACTIVE_STATUSES]
            chapter = self._match(query, usable)
            if chapter is None:
                gone = self._match(query, [c for c in rows if c not in usable])
                if gone is not None:
                    raise NotFound(self._gone_message(gone, rows))
                names = [c.name for c in usable]
                close = [m for m, _s, _i in process.extract(query, names, limit=3, score_cutoff=50)]
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                listing = " See /chapter list for every chapter."
                raise NotFound(f"I don't know a chapter called “{query[:80]}”.{hint}{listing}")
            return await self._view(session, chapter)

    @staticmethod
    def _match(query: str, chapters: Sequence[Chapter]) -> Chapter | None:
        if query.isdecimal() and query.isascii():
            wanted = int(query)
            for chapter in chapters:
                if chapter.id == wanted:
                    return chapter
        key = _name_key(query)
        for chapter in chapters:
            if chapter.name_key == key:
                return chapter
        by_city = [c for c in chapters if normalize(c.city_label) == key]
        by_city = by_city or [c for c in chapters if normalize(c.city_label.split(",")[0]) == key]
        return by_city[0] if len(by_city) == 1 else None

    @staticmethod
    def _gone_message(chapter: Chapter, rows: Sequence[Chapter]) -> str:
        if chapter.status == ChapterStatus.MERGED and chapter.merged_into_id is not None:
            target = next((c for c in rows if c.id == chapter.merged_into_id), None)
            if target is not None:
                return f"{chapter.name} was merged into {target.name}: use that chapter instead."
        return (
            f"{chapter.name} is {STATUS_LABELS[ChapterStatus(chapter.status)]}. "
            "Ask an organizer if it should come back (/chapter set-status)."
        )

    async def search(
        self, guild_id: int, text: str, *, limit: int = 25, include_inactive: bool = False
    ) -> list[ChapterView]:
        """For autocomplete: names or cities starting with / containing ``text``, then fuzzy."""
        key = normalize(text)
        async with self._sessions() as session:
            rows = await self._guild_chapters(session, guild_id, include_inactive=include_inactive)
            counts = await self._member_counts(session, [c.id for c in rows])
        if key:
            starts = [
                c
                for c in rows
                if c.name_key.startswith(key) or normalize(c.city_label).startswith(key)
            ]
            seen = {c.id for c in starts}
            contains = [
                c
                for c in rows
                if c.id not in seen and (key in c.name_key or key in normalize(c.city_label))
            ]
            ranked = starts + contains
            if len(ranked) < limit:
                seen |= {c.id for c in contains}
                rest = [c for c in rows if c.id not in seen]
                fuzzy = process.extract(
                    key,
                    [c.name_key for c in rest],
                    scorer=fuzz.partial_ratio,
                    limit=limit - len(ranked),
                    score_cutoff=70,
                )
                ranked += [rest[index] for _m, _s, index in fuzzy]
        else:
            ranked = sorted(rows, key=lambda c: (-counts.get(c.id, 0), c.name_key))
        return [_view(c, counts.get(c.id, 0)) for c in ranked[:limit]]

    async def list_chapters(
        self,
        guild_id: int,
        *,
        region: str | None = None,
        continent: str | None = None,
        status: ChapterStatus | None = None,
    ) -> list[ChapterView]:
        """Chapters by continent, country, region and name. ``region`` is a state or province
        code or name ("CA", "California", "US-CA"), a country code, or an organizer region."""
        include_inactive = status is not None and status not in ACTIVE_STATUSES
        async with self._sessions() as session:
            rows = await self._guild_chapters(session, guild_id, include_inactive=include_inactive)
            if status is not None:
                rows = [c for c in rows if c.status == status]
            if continent:
                wanted = continent.strip().upper()
                by_name = {normalize(n): code for code, n in CONTINENT_NAMES.items()}
                wanted = by_name.get(normalize(continent), wanted)
                rows = [c for c in rows if c.continent_code == wanted]
            if region:
                areas = await self._region_areas(session, guild_id, region)
                rows = [c for c in rows if self._in_areas(c, areas)]
            counts = await self._member_counts(session, [c.id for c in rows])
        rows.sort(key=lambda c: (c.continent_code, c.country_code, c.region_code, c.name_key))
        return [_view(c, counts.get(c.id, 0)) for c in rows]

    async def _region_areas(
        self, session: AsyncSession, guild_id: int, region: str
    ) -> list[tuple[str, str]]:
        """(country, region) pairs; region "" means the whole country."""
        text = region.strip()
        organizer = list(
            await session.scalars(
                select(OrganizerRegion).where(OrganizerRegion.guild_id == guild_id)
            )
        )
        named = [r for r in organizer if normalize(r.name) == normalize(text)]
        if named:
            return [(r.country_code.upper(), r.region_code.upper()) for r in named]
        if "-" in text:
            country, _, code = text.partition("-")
            return [(country.strip().upper(), code.strip().upper())]
        return [("*", text.upper()), ("*name", normalize(text))]

    @staticmethod
    def _in_areas(chapter: Chapter, areas: Iterable[tuple[str, str]]) -> bool:
        for country, region in areas:
            if country == "*":
                if region in (chapter.region_code.upper(), chapter.country_code.upper()):
                    return True
            elif country == "*name":
                if region and region == normalize(chapter.region_name or ""):
                    return True
            elif chapter.country_code.upper() == country and (
                not region or chapter.region_code.upper() == region
            ):
                return True
        return False

    async def chapters_of(self, guild_id: int, user_id: int) -> list[ChapterView]:
        """The active chapters ``user_id`` belongs to."""
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(Chapter)
                    .join(ChapterMember, ChapterMember.chapter_id == Chapter.id)
                    .where(
                        Chapter.guild_id == guild_id,
                        ChapterMember.user_id == user_id,
                        Chapter.status.in_(ACTIVE_STATUSES),
                    )
                    .order_by(Chapter.name_key)
                )
            )
            counts = await self._member_counts(session, [c.id for c in rows])
        return [_view(c, counts.get(c.id, 0)) for c in rows]

    async def details(self, guild_id: int, chapter_id: int) -> ChapterDetails:
        now = self._clock.now()
        async with self._sessions() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            settings = await load_chapter_settings(session, guild_id)
            members = await self._members(session, chapter.id)
            roles = await self._roles(session, chapter.id)
            agreements = list(
                await session.scalars(
                    select(ChapterAgreement)
                    .where(ChapterAgreement.chapter_id == chapter.id)
                    .order_by(ChapterAgreement.id)
                )
            )
            history = list(
                await session.scalars(
                    select(ChapterStatusChange)
                    .where(ChapterStatusChange.chapter_id == chapter.id)
                    .order_by(ChapterStatusChange.at.desc(), ChapterStatusChange.id.desc())
                )
            )
            report = await self._criteria(session, chapter, settings, now)
            merged_into = None
            if chapter.merged_into_id is not None:
                target = await session.get(Chapter, chapter.merged_into_id)
                if target is not None:
                    merged_into = await self._view(session, target)
            return ChapterDetails(
                chapter=_view(chapter, len(members)),
                members=tuple(MemberView(m.user_id, m.is_founder, m.joined_at) for m in members),
                roles=tuple(RoleHolder(r.role, r.user_id, r.assigned_at) for r in roles),
                agreements=tuple(_agreement_view(a) for a in agreements),
                criteria=report,
                history=tuple(
                    StatusChangeView(
                        ChapterStatus(h.from_status) if h.from_status else None,
                        ChapterStatus(h.to_status),
                        h.reason,
                        h.actor_id,
                        h.at,
                    )
                    for h in history
                ),
                settings=settings,
                merged_into=merged_into,
            )

    # ------------------------------------------------------------------ lifecycle

    async def propose(
        self, guild_id: int, user_id: int, city: str, name: str | None = None
    ) -> ChapterView:
        """Record a forming chapter in ``city`` (free text or a geoname id) with the proposer as
        founder and member. Raises PlaceNotFound/AmbiguousPlace (with suggestions) for a city
        the gazetteer can't pin down, Conflict if the city or name already has a chapter."""
        chosen = clean_name(name) if name is not None and name.strip() else None
        place = self._places.resolve(city)
        try:
            return await self._propose(guild_id, user_id, place, chosen)
        except IntegrityError as exc:  # a concurrent proposal won the unique constraint
            raise Conflict(
                f"A chapter for {place.label} was just created. "
                "Look it up with /chapter list and join it."
            ) from exc

    async def _propose(
        self, guild_id: int, user_id: int, place: Place, chosen: str | None
    ) -> ChapterView:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(Chapter).where(
                    Chapter.guild_id == guild_id,
                    Chapter.geoname_id == place.geoname_id,
                    Chapter.status.in_(ACTIVE_STATUSES),
                )
            )
            if existing is not None:
                raise Conflict(
                    f"{place.label} already has a chapter: {existing.name} "
                    f"({STATUS_LABELS[ChapterStatus(existing.status)]}). "
                    f"Join it with /chapter join instead."
                )
            final = chosen or await self._default_name(session, guild_id, place)
            await self._ensure_name_free(session, guild_id, final)
            chapter = Chapter(
                guild_id=guild_id,
                name=final,
                name_key=_name_key(final),
                geoname_id=place.geoname_id,
                city_label=place.label,
                region_code=place.region_code,
                region_name=place.region_name,
                country_code=place.country_code,
                continent_code=place.continent_code,
                timezone=place.timezone,
                status=ChapterStatus.FORMING,
                active=True,
                rotate_roles=False,
                created_by=user_id,
                created_at=now,
                status_changed_at=now,
            )
            session.add(chapter)
            await session.flush()
            session.add(
                ChapterMember(
                    chapter_id=chapter.id, user_id=user_id, is_founder=True, joined_at=now
                )
            )
            session.add(
                ChapterStatusChange(
                    chapter_id=chapter.id,
                    from_status=None,
                    to_status=ChapterStatus.FORMING,
                    reason=f"proposed for {place.label}",
                    actor_id=user_id,
                    at=now,
                )
            )
            return _view(chapter, 1)

    async def _default_name(self, session: AsyncSession, guild_id: int, place: Place) -> str:
        for candidate in (
            f"{place.name} Chapter",
            f"{place.label.rsplit(',', 1)[0]} Chapter",
            f"{place.label} Chapter",
        ):
            name = clean_name(candidate[:NAME_MAX_CHARS])
            if not await self._name_taken(session, guild_id, name):
                return name
        return clean_name(f"{place.name} {place.geoname_id}"[:NAME_MAX_CHARS])

    async def _name_taken(self, session: AsyncSession, guild_id: int, name: str) -> Chapter | None:
        return await session.scalar(
            select(Chapter).where(
                Chapter.guild_id == guild_id,
                Chapter.name_key == _name_key(name),
                Chapter.active.is_(True),
            )
        )

    async def _ensure_name_free(self, session: AsyncSession, guild_id: int, name: str) -> None:
        taken = await self._name_taken(session, guild_id, name)
        if taken is not None:
            raise Conflict(
                f"There is already a chapter named {taken.name} (in {taken.city_label}). "
                "Pick another name."
            )

    async def record_provisioning(
        self,
        guild_id: int,
        chapter_id: int,
        *,
        role_id: int | None = None,
        channel_id: int | None = None,
    ) -> ChapterView:
        """Remember the Discord role/channel created for the chapter (None leaves it as is)."""
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if role_id is not None:
                chapter.role_id = role_id
            if channel_id is not None:
                chapter.channel_id = channel_id
            return await self._view(session, chapter)

    async def forget_discord(
        self, guild_id: int, chapter_id: int, *, role: bool = False, channel: bool = False
    ) -> None:
        """Drop a recorded role/channel id that no longer exists on Discord (deleted by hand)."""
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if role:
                chapter.role_id = None
            if channel:
                chapter.channel_id = None

    async def join(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        try:
            return await self._join(guild_id, chapter_id, user_id)
        except IntegrityError as exc:  # a double click raced past the check
            raise Conflict("You're already a member of that chapter.") from exc

    async def _join(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            if await session.get(ChapterMember, (chapter.id, user_id)) is not None:
                raise Conflict(f"You're already a member of {chapter.name}.")
            session.add(
                ChapterMember(
                    chapter_id=chapter.id, user_id=user_id, is_founder=False, joined_at=now
                )
            )
            await session.flush()
            transition = await self._evaluate(session, chapter, now, "a member joined")
            return MembershipChange(
                chapter=await self._view(session, chapter),
                user_id=user_id,
                transitions=(transition,) if transition else (),
            )

    async def leave(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            membership = await session.get(ChapterMember, (chapter.id, user_id))
            if membership is None:
                raise NotFound(f"You're not a member of {chapter.name}.")
            return await self._remove_member(session, chapter, membership, now, "a member left")

    async def remove_member_everywhere(self, guild_id: int, user_id: int) -> list[MembershipChange]:
        """The member left the server: take them out of every chapter (and its roles)."""
        async with self._sessions.begin() as session:
            chapter_ids = await session.scalars(
                select(ChapterMember.chapter_id)
                .join(Chapter, Chapter.id == ChapterMember.chapter_id)
                .where(Chapter.guild_id == guild_id, ChapterMember.user_id == user_id)
            )
            pairs = [(chapter_id, user_id) for chapter_id in chapter_ids]
            return await self._remove_memberships(
                session, guild_id, pairs, "a member left the server"
            )

    async def remove_absent_members(
        self, guild_id: int, present_user_ids: Iterable[int]
    ) -> list[MembershipChange]:
        """Reconcile with the guild's member list: members who left the server while the bot
        was away (a fresh IDENTIFY replays no leaves) leave their chapters too."""
        present = set(present_user_ids)
        async with self._sessions.begin() as session:
            rows = await session.execute(
                select(ChapterMember.chapter_id, ChapterMember.user_id)
                .join(Chapter, Chapter.id == ChapterMember.chapter_id)
                .where(Chapter.guild_id == guild_id)
            )
            pairs = [
                (chapter_id, user_id) for chapter_id, user_id in rows if user_id not in present
            ]
            return await self._remove_memberships(
                session, guild_id, pairs, "a member left the server while the bot was away"
            )

    async def _remove_memberships(
        self,
        session: AsyncSession,
        guild_id: int,
        pairs: Iterable[tuple[int, int]],
        trigger: str,
    ) -> list[MembershipChange]:
        """Remove (chapter id, user id) memberships, locking each chapter in id order."""
        now = self._clock.now()
        changes: list[MembershipChange] = []
        for chapter_id, user_id in sorted(pairs):
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            membership = await session.get(ChapterMember, (chapter_id, user_id))
            if membership is not None:
                changes.append(
                    await self._remove_member(session, chapter, membership, now, trigger)
                )
        return changes

    async def _remove_member(
        self,
        session: AsyncSession,
        chapter: Chapter,
        membership: ChapterMember,
        now: datetime,
        trigger: str,
    ) -> MembershipChange:
        held = list(
            await session.scalars(
                select(ChapterRoleAssignment).where(
                    ChapterRoleAssignment.chapter_id == chapter.id,
                    ChapterRoleAssignment.user_id == membership.user_id,
                )
            )
        )
        for assignment in held:
            await session.delete(assignment)
        await session.delete(membership)
        await session.flush()
        transition = None
        if chapter.status in EVALUATED_STATUSES:
            transition = await self._evaluate(session, chapter, now, trigger)
        return MembershipChange(
            chapter=await self._view(session, chapter),
            user_id=membership.user_id,
            vacated_roles=tuple(sorted(a.role for a in held)),
            transitions=(transition,) if transition else (),
        )

    async def evaluate(self, guild_id: int, chapter_id: int) -> Transition | None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if chapter.status not in EVALUATED_STATUSES:
                return None
            return await self._evaluate(session, chapter, now, "an evaluation")

    async def evaluate_guild(
        self, guild_id: int, *, trigger: str = "the daily evaluation"
    ) -> list[Transition]:
        """Evaluate every forming, formal and at-risk chapter of the guild."""
        now = self._clock.now()
        transitions: list[Transition] = []
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(Chapter)
                    .where(Chapter.guild_id == guild_id, Chapter.status.in_(EVALUATED_STATUSES))
                    .order_by(Chapter.id)
                    .with_for_update()
                )
            )
            settings = await load_chapter_settings(session, guild_id)
            for chapter in rows:
                transition = await self._evaluate(session, chapter, now, trigger, settings)
                if transition is not None:
                    transitions.append(transition)
        return transitions

    async def set_status(
        self,
        guild_id: int,
        chapter_id: int,
        status: ChapterStatus,
        reason: str,
        actor_id: int,
    ) -> Transition:
        """Organizers: any status by hand (not ``merged``: use :meth:`merge`)."""
        why = _clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        if status == ChapterStatus.MERGED:
            raise InvalidInput("To merge chapters use /chapter merge, which also moves members.")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if chapter.status == status:
                raise Conflict(f"{chapter.name} is already {STATUS_LABELS[status]}.")
            if chapter.status == ChapterStatus.MERGED:
                raise Conflict(
                    f"{chapter.name} was merged and its members moved; it can't be changed."
                )
            if chapter.status not in ACTIVE_STATUSES and status in ACTIVE_STATUSES:
                clash = await session.scalar(
                    select(Chapter).where(
                        Chapter.guild_id == guild_id,
                        Chapter.active.is_(True),
                        (Chapter.geoname_id == chapter.geoname_id)
                        | (Chapter.name_key == chapter.name_key),
                    )
                )
                if clash is not None:
                    raise Conflict(
                        f"Another chapter, {clash.name}, now uses {chapter.city_label} or the "
                        f"name {chapter.name}; archive or merge it first."
                    )
            return await self._transition(
                session, chapter, status, f"set by an organizer: {why}", now, actor_id=actor_id
            )

    async def archive(
        self, guild_id: int, chapter_id: int, reason: str, actor_id: int
    ) -> Transition:
        why = _clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if chapter.status in (ChapterStatus.ARCHIVED, ChapterStatus.MERGED):
                raise Conflict(f"{chapter.name} is already {STATUS_LABELS[chapter.status]}.")
            return await self._transition(
                session, chapter, ChapterStatus.ARCHIVED, f"archived: {why}", now, actor_id=actor_id
            )

    async def merge(
        self, guild_id: int, source_id: int, target_id: int, reason: str, actor_id: int
    ) -> MergeResult:
        """Move every member of ``source`` into ``target``; ``source`` becomes merged. Roles and
        agreements stay with the source as its history."""
        why = _clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        if source_id == target_id:
            raise InvalidInput("Pick two different chapters: the one to merge and the one to keep.")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            locked = {  # in id order, so two merges never wait on each other's locks
                chapter_id: await self._active_chapter(session, guild_id, chapter_id, lock=True)
                for chapter_id in sorted((source_id, target_id))
            }
            source, target = locked[source_id], locked[target_id]
            already = set(
                await session.scalars(
                    select(ChapterMember.user_id).where(ChapterMember.chapter_id == target.id)
                )
            )
            moved: list[int] = []
            for member in await self._members(session, source.id):
                if member.user_id not in already:
                    session.add(
                        ChapterMember(
                            chapter_id=target.id,
                            user_id=member.user_id,
                            is_founder=False,
                            joined_at=now,
                        )
                    )
                    moved.append(member.user_id)
            source.merged_into_id = target.id
            merged = await self._transition(
                session,
                source,
                ChapterStatus.MERGED,
                f"merged into {target.name}: {why}",
                now,
                actor_id=actor_id,
            )
            await session.flush()
            transitions = [merged]
            if target.status in EVALUATED_STATUSES:
                evaluated = await self._evaluate(
                    session, target, now, f"{source.name} was merged into it"
                )
                if evaluated is not None:
                    transitions.append(evaluated)
            return MergeResult(
                source=await self._view(session, source),
                target=await self._view(session, target),
                moved_user_ids=tuple(moved),
                transitions=tuple(transitions),
            )

    # ------------------------------------------------------------------ roles

    async def assign_role(
        self,
        guild_id: int,
        chapter_id: int,
        role: str,
        user_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> RoleChange:
        """Give ``role`` to a member (one holder per role). Allowed to the chapter's facilitator
        and founders, and to organizers."""
        role_key = normalize_role(role)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            await self._require_steward(
                session, chapter, actor_id, actor_is_organizer, "assign roles"
            )
            if await session.get(ChapterMember, (chapter.id, user_id)) is None:
                raise NotFound(
                    f"That person isn't a member of {chapter.name}. "
                    "They can join with /chapter join first."
                )
            row = await session.get(ChapterRoleAssignment, (chapter.id, role_key))
            previous = row.user_id if row else None
            if row is None:
                row = ChapterRoleAssignment(chapter_id=chapter.id, role=role_key)
                session.add(row)
            row.user_id = user_id
            row.assigned_at = now
            await session.flush()
            transition = None
            if chapter.status in EVALUATED_STATUSES:
                transition = await self._evaluate(
                    session, chapter, now, f"the {role_key} role was assigned"
                )
            return RoleChange(
                chapter=await self._view(session, chapter),
                role=role_key,
                user_id=user_id,
                previous_user_id=previous,
                transitions=(transition,) if transition else (),
            )

    async def set_rotation(
        self,
        guild_id: int,
        chapter_id: int,
        enabled: bool,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> ChapterView:
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            await self._require_steward(
                session, chapter, actor_id, actor_is_organizer, "change role rotation"
            )
            chapter.rotate_roles = enabled
            return await self._view(session, chapter)

    async def rotate(
        self,
        guild_id: int,
        chapter_id: int,
        *,
        actor_id: int | None = None,
        actor_is_organizer: bool = False,
    ) -> RotationResult:
        """Hand facilitator and note-taker to the next members in a round robin.

        Members are ordered by when they joined. The new facilitator is the member after the
        current one (or the current note-taker if the facilitator's seat is empty), and the new
        note-taker the member after the new facilitator. Over N rotations each of N members
        facilitates once and takes notes once, and no one holds both unless they are alone.
        ``actor_id=None`` is the bot itself (e.g. once per meeting) and needs no permission."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            if actor_id is not None:
                await self._require_steward(
                    session, chapter, actor_id, actor_is_organizer, "rotate roles"
                )
            members = await self._members(session, chapter.id)
            if not members:
                raise InvalidInput(f"{chapter.name} has no members to hand roles to yet.")
            order = [m.user_id for m in members]
            rows = {
                r.role: r
                for r in await self._roles(session, chapter.id)
                if r.role in ROTATING_ROLES
            }
            previous = tuple(RoleHolder(r.role, r.user_id, r.assigned_at) for r in rows.values())
            facilitator = rows.get(ROTATING_ROLES[0])
            note_taker = rows.get(ROTATING_ROLES[1])
            if facilitator is not None and facilitator.user_id in order:
                first = (order.index(facilitator.user_id) + 1) % len(order)
            elif note_taker is not None and note_taker.user_id in order:
                first = order.index(note_taker.user_id)
            else:
                first = 0
            new_holders = (order[first], order[(first + 1) % len(order)])
            holders: list[RoleHolder] = []
            for role, holder in zip(ROTATING_ROLES, new_holders, strict=True):
                row = rows.get(role)
                if row is None:
                    row = ChapterRoleAssignment(chapter_id=chapter.id, role=role)
                    session.add(row)
                row.user_id = holder
                row.assigned_at = now
                holders.append(RoleHolder(role, holder, now))
            await session.flush()
            transition = None
            if chapter.status in EVALUATED_STATUSES:
                transition = await self._evaluate(session, chapter, now, "roles were rotated")
            return RotationResult(
                chapter=await self._view(session, chapter),
                holders=tuple(holders),
                previous=previous,
                transitions=(transition,) if transition else (),
            )

    async def rotate_if_enabled(self, guild_id: int, chapter_id: int) -> RotationResult | None:
        """For the meetings feature: rotate once per meeting when the chapter opted in."""
        chapter = await self.get(guild_id, chapter_id)
        if not chapter.rotate_roles or not chapter.active:
            return None
        return await self.rotate(guild_id, chapter_id)

    # ------------------------------------------------------------------ agreements

    async def add_agreement(
        self,
        guild_id: int,
        chapter_id: int,
        text: str,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> AgreementView:
        body = _clean_text(text, what="agreement", limit=AGREEMENT_MAX_CHARS)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id)
            is_member = await session.get(ChapterMember, (chapter.id, actor_id)) is not None
            if not (is_member or actor_is_organizer):
                raise NotAllowed(
                    f"Only members of {chapter.name} can propose its agreements. "
                    "Join with /chapter join first."
                )
            row = ChapterAgreement(
                chapter_id=chapter.id, text=body, proposed_by=actor_id, created_at=now
            )
            session.add(row)
            await session.flush()
            return _agreement_view(row)

    async def list_agreements(self, guild_id: int, chapter_id: int) -> list[AgreementView]:
        return list((await self.details(guild_id, chapter_id)).agreements)

    async def adopt_agreement(
        self,
        guild_id: int,
        chapter_id: int,
        agreement_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> AgreementChange:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            await self._require_steward(
                session, chapter, actor_id, actor_is_organizer, "adopt agreements"
            )
            row = await session.get(ChapterAgreement, agreement_id)
            if row is None or row.chapter_id != chapter.id:
                raise NotFound(
                    f"{chapter.name} has no agreement #{agreement_id}. "
                    "See them with /chapter agreements list."
                )
            if row.adopted_at is not None:
                raise Conflict(f"Agreement #{row.id} is already adopted.")
            row.adopted_at = now
            row.adopted_by = actor_id
            await session.flush()
            transition = None
            if chapter.status in EVALUATED_STATUSES:
                transition = await self._evaluate(session, chapter, now, "an agreement was adopted")
            return AgreementChange(
                agreement=_agreement_view(row),
                chapter=await self._view(session, chapter),
                transitions=(transition,) if transition else (),
            )

    # ------------------------------------------------------------------ internals

    async def _chapter(
        self, session: AsyncSession, guild_id: int, chapter_id: int, *, lock: bool = False
    ) -> Chapter:
        """``lock``: SELECT … FOR UPDATE, so concurrent changes to one chapter queue and each
        evaluates what the previous one wrote (no transition made twice on PostgreSQL)."""
        chapter = await session.get(Chapter, chapter_id, with_for_update=lock)
        if chapter is None or chapter.guild_id != guild_id:
            raise NotFound("I don't know that chapter. Pick one from the list as you type.")
        return chapter

    async def _active_chapter(
        self, session: AsyncSession, guild_id: int, chapter_id: int, *, lock: bool = False
    ) -> Chapter:
        chapter = await self._chapter(session, guild_id, chapter_id, lock=lock)
        if chapter.status not in ACTIVE_STATUSES:
            rows: list[Chapter] = []
            if chapter.merged_into_id is not None:
                target = await session.get(Chapter, chapter.merged_into_id)
                rows = [target] if target is not None else []
            raise Conflict(self._gone_message(chapter, rows))
        return chapter

    async def _guild_chapters(
        self, session: AsyncSession, guild_id: int, *, include_inactive: bool
    ) -> list[Chapter]:
        query = select(Chapter).where(Chapter.guild_id == guild_id)
        if not include_inactive:
            query = query.where(Chapter.status.in_(ACTIVE_STATUSES))
        return list(await session.scalars(query.order_by(Chapter.name_key, Chapter.id)))

    async def _member_counts(self, session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = await session.execute(
            select(ChapterMember.chapter_id, func.count())
            .where(ChapterMember.chapter_id.in_(ids))
            .group_by(ChapterMember.chapter_id)
        )
        return {chapter_id: count for chapter_id, count in rows.all()}

    async def _members(self, session: AsyncSession, chapter_id: int) -> list[ChapterMember]:
        return list(
            await session.scalars(
                select(ChapterMember)
                .where(ChapterMember.chapter_id == chapter_id)
                .order_by(ChapterMember.joined_at, ChapterMember.user_id)
            )
        )

    async def _roles(self, session: AsyncSession, chapter_id: int) -> list[ChapterRoleAssignment]:
        return list(
            await session.scalars(
                select(ChapterRoleAssignment)
                .where(ChapterRoleAssignment.chapter_id == chapter_id)
                .order_by(ChapterRoleAssignment.role)
            )
        )

    async def _view(self, session: AsyncSession, chapter: Chapter) -> ChapterView:
        count = await session.scalar(
            select(func.count()).where(ChapterMember.chapter_id == chapter.id)
        )
        return _view(chapter, count or 0)

    async def _require_steward(
        self,
        session: AsyncSession,
        chapter: Chapter,
        actor_id: int,
        actor_is_organizer: bool,
        action: str,
    ) -> None:
        if actor_is_organizer:
            return
        membership = await session.get(ChapterMember, (chapter.id, actor_id))
        if membership is not None and membership.is_founder:
            return
        facilitator = await session.get(ChapterRoleAssignment, (chapter.id, "facilitator"))
        if facilitator is not None and facilitator.user_id == actor_id:
            return
        raise NotAllowed(
            f"Only the facilitator or founders of {chapter.name}, or an organizer, "
            f"can {action}. Ask one of them."
        )

    async def _criteria(
        self,
        session: AsyncSession,
        chapter: Chapter,
        settings: ChapterSettingsView,
        now: datetime,
    ) -> CriteriaReport:
        results: list[CriterionResult] = []
        count = (
            await session.scalar(select(func.count()).where(ChapterMember.chapter_id == chapter.id))
            or 0
        )
        results.append(
            CriterionResult(
                "members",
                "Members",
                count >= settings.min_members,
                True,
                f"{count} of {settings.min_members} members",
            )
        )

        last_meeting = await session.scalar(
            select(func.max(ChapterMeeting.held_at)).where(
                ChapterMeeting.chapter_id == chapter.id,
                ChapterMeeting.attendee_count > 0,
                ChapterMeeting.held_at <= now,
            )
        )
        months = settings.meeting_months
        if months <= 0:
            results.append(
                CriterionResult("meetings", "Meetings", True, False, "meetings not required")
            )
        else:
            since = months_before(now, months)
            held = list(
                await session.scalars(
                    select(ChapterMeeting.held_at).where(
                        ChapterMeeting.chapter_id == chapter.id,
                        ChapterMeeting.attendee_count > 0,
                        ChapterMeeting.held_at > since,
                        ChapterMeeting.held_at <= now,
                    )
                )
            )
            missing_windows = []
            for k in range(months):
                start, end = months_before(now, k + 1), months_before(now, k)
                if not any(start < at <= end for at in held):
                    missing_windows.append((start, end))
            span = "in the last month" if months == 1 else f"in each of the last {months} months"
            if not missing_windows:
                detail = f"a meeting with attendance {span}"
            elif last_meeting is None:
                detail = f"no meetings recorded (needs a meeting with attendance {span})"
            else:
                start, end = missing_windows[0]
                detail = (
                    f"no meeting with attendance between {start:%Y-%m-%d} and {end:%Y-%m-%d} "
                    f"(needs one {span}; last was {last_meeting:%Y-%m-%d})"
                )
            results.append(
                CriterionResult("meetings", "Meetings", not missing_windows, True, detail)
            )

        if settings.require_agreements:
            adopted = (
                await session.scalar(
                    select(func.count()).where(
                        ChapterAgreement.chapter_id == chapter.id,
                        ChapterAgreement.adopted_at.is_not(None),
                    )
                )
                or 0
            )
            detail = (
                f"{_plural(adopted, 'agreement')} adopted"
                if adopted
                else "no agreements adopted yet"
            )
            results.append(CriterionResult("agreements", "Agreements", adopted > 0, True, detail))
        else:
            results.append(
                CriterionResult("agreements", "Agreements", True, False, "agreements not required")
            )

        if settings.key_roles:
            members = set(
                await session.scalars(
                    select(ChapterMember.user_id).where(ChapterMember.chapter_id == chapter.id)
                )
            )
            filled = {
                r.role for r in await self._roles(session, chapter.id) if r.user_id in members
            }
            vacant = [role for role in settings.key_roles if role not in filled]
            detail = (
                f"{' and '.join(settings.key_roles)} filled"
                if not vacant
                else f"no {' or '.join(vacant)} yet"
            )
            results.append(CriterionResult("roles", "Key roles", not vacant, True, detail))
        else:
            results.append(
                CriterionResult("roles", "Key roles", True, False, "no key roles required")
            )
        return CriteriaReport(tuple(results), last_meeting_at=last_meeting)

    async def _evaluate(
        self,
        session: AsyncSession,
        chapter: Chapter,
        now: datetime,
        trigger: str,
        settings: ChapterSettingsView | None = None,
    ) -> Transition | None:
        """Apply the lifecycle rules to one chapter; the transition made, if any."""
        if settings is None:
            settings = await load_chapter_settings(session, chapter.guild_id)
        report = await self._criteria(session, chapter, settings, now)
        chapter.last_evaluated_at = now
        status = ChapterStatus(chapter.status)
        after = f" (checked after {trigger})"
        if status == ChapterStatus.FORMING and report.met:
            return await self._transition(
                session,
                chapter,
                ChapterStatus.FORMAL,
                f"all criteria met: {report.summary()}{after}",
                now,
            )
        if status == ChapterStatus.FORMAL and not report.met:
            return await self._transition(
                session,
                chapter,
                ChapterStatus.AT_RISK,
                f"criteria no longer met: {report.missing_summary()}{after}",
                now,
            )
        if status == ChapterStatus.AT_RISK:
            if report.met:
                return await self._transition(
                    session,
                    chapter,
                    ChapterStatus.FORMAL,
                    f"criteria met again: {report.summary()}{after}",
                    now,
                )
            if now - chapter.status_changed_at >= self.lapse_after:
                days = self.lapse_after.days
                return await self._transition(
                    session,
                    chapter,
                    ChapterStatus.LAPSED,
                    f"at risk for {days} days: {report.missing_summary()}{after}",
                    now,
                )
        return None

    async def _transition(
        self,
        session: AsyncSession,
        chapter: Chapter,
        to: ChapterStatus,
        reason: str,
        now: datetime,
        *,
        actor_id: int | None = None,
    ) -> Transition:
        before = ChapterStatus(chapter.status)
        chapter.status = to
        chapter.status_changed_at = now
        chapter.active = True if to in ACTIVE_STATUSES else None
        session.add(
            ChapterStatusChange(
                chapter_id=chapter.id,
                from_status=before,
                to_status=to,
                reason=reason[:2000],
                actor_id=actor_id,
                at=now,
            )
        )
        await session.flush()
        return Transition(
            chapter=await self._view(session, chapter),
            from_status=before,
            to_status=to,
            reason=reason,
            at=now,
            automatic=actor_id is None,
        )
