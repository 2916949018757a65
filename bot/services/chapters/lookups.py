"""Finding chapters: by id, name or city, for autocomplete, by region, and in full detail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotFound
from bot.services.chapter_settings import load_chapter_settings
from bot.services.chapters._store import (
    ChapterRecord,
    ChapterStore,
    ListedChapter,
    gone_message,
    summary_of,
)
from bot.services.chapters.criteria import criteria_facts, judge_criteria
from bot.services.chapters.lifecycle import ACTIVE_STATUSES
from bot.services.chapters.results import (
    AgreementSummary,
    ChapterDetails,
    ChapterSummary,
    MemberSummary,
    RoleHolder,
    StatusChange,
)
from bot.services.chapters.text import name_key
from bot.services.places import CONTINENT_NAMES, normalize
from bot.services.sanitize import as_row_id
from db.models import (
    Chapter,
    ChapterAgreement,
    ChapterMember,
    ChapterRoleAssignment,
    ChapterStatus,
    ChapterStatusChange,
    OrganizerRegion,
)


class ChapterLookups(ChapterStore):
    """The hot lookups (resolve, autocomplete, list, get) read the cached guild listing."""

    async def get(self, guild_id: int, chapter_id: int) -> ChapterSummary:
        for listed in await self._listing(guild_id):
            if listed.summary.id == chapter_id:
                return listed.summary
        raise NotFound("I don't know that chapter. Pick one from the list as you type.")

    async def resolve(
        self, guild_id: int, text: str, *, include_inactive: bool = False
    ) -> ChapterSummary:
        """The chapter a command option names: an id (autocomplete value), a name or a city.

        Raises NotFound with the closest names when nothing matches."""
        query = text.strip()
        if not query:
            raise InvalidInput("Name a chapter: start typing and pick one from the list.")
        rows = await self._listing(guild_id)
        usable = [c for c in rows if include_inactive or c.summary.active]
        chapter = self._match(query, usable)
        if chapter is None:
            gone = self._match(
                query, [c for c in rows if not (include_inactive or c.summary.active)]
            )
            if gone is not None:
                raise NotFound(gone_message(gone.summary, [c.summary for c in rows]))
            names = [c.summary.name for c in usable]
            close = [m for m, _s, _i in process.extract(query, names, limit=3, score_cutoff=50)]
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            listing = " See /chapter list for every chapter."
            raise NotFound(f"I don't know a chapter called “{query[:80]}”.{hint}{listing}")
        return chapter.summary

    @staticmethod
    def _match(query: str, chapters: Sequence[ListedChapter]) -> ListedChapter | None:
        wanted = as_row_id(query)
        if wanted is not None:
            for chapter in chapters:
                if chapter.summary.id == wanted:
                    return chapter
        key = name_key(query)
        for chapter in chapters:
            if chapter.name_key == key:
                return chapter
        by_city = [c for c in chapters if c.city_key == key]
        by_city = by_city or [c for c in chapters if c.town_key == key]
        return by_city[0] if len(by_city) == 1 else None

    async def search(
        self, guild_id: int, text: str, *, limit: int = 25, include_inactive: bool = False
    ) -> list[ChapterSummary]:
        """For autocomplete: names or cities starting with / containing ``text``, then fuzzy."""
        key = normalize(text)
        rows = [c for c in await self._listing(guild_id) if include_inactive or c.summary.active]
        if key:
            starts = [c for c in rows if c.name_key.startswith(key) or c.city_key.startswith(key)]
            seen = {c.summary.id for c in starts}
            contains = [
                c
                for c in rows
                if c.summary.id not in seen and (key in c.name_key or key in c.city_key)
            ]
            ranked = starts + contains
            if len(ranked) < limit:
                seen |= {c.summary.id for c in contains}
                rest = [c for c in rows if c.summary.id not in seen]
                fuzzy = process.extract(
                    key,
                    [c.name_key for c in rest],
                    scorer=fuzz.partial_ratio,
                    limit=limit - len(ranked),
                    score_cutoff=70,
                )
                ranked += [rest[index] for _m, _s, index in fuzzy]
        else:
            ranked = sorted(rows, key=lambda c: (-c.summary.member_count, c.name_key))
        return [c.summary for c in ranked[:limit]]

    async def list_chapters(
        self,
        guild_id: int,
        *,
        region: str | None = None,
        continent: str | None = None,
        status: ChapterStatus | None = None,
    ) -> list[ChapterSummary]:
        """Chapters by continent, country, region and name. ``region`` is a state or province
        code or name ("CA", "California", "US-CA"), a country code, or an organizer region."""
        include_inactive = status is not None and status not in ACTIVE_STATUSES
        rows = [c for c in await self._listing(guild_id) if include_inactive or c.summary.active]
        if status is not None:
            rows = [c for c in rows if c.summary.status == status]
        if continent:
            wanted = continent.strip().upper()
            by_name = {normalize(n): code for code, n in CONTINENT_NAMES.items()}
            wanted = by_name.get(normalize(continent), wanted)
            rows = [c for c in rows if c.summary.continent_code == wanted]
        if region:
            async with self._sessions.read() as session:
                areas = await self._region_areas(session, guild_id, region)
            rows = [c for c in rows if self._in_areas(c.summary, areas)]
        found = [c.summary for c in rows]
        found.sort(key=lambda c: (c.continent_code, c.country_code, c.region_code))
        return found

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
    def _in_areas(chapter: ChapterSummary, areas: Iterable[tuple[str, str]]) -> bool:
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

    async def chapters_of(self, guild_id: int, user_id: int) -> list[ChapterSummary]:
        """The active chapters ``user_id`` belongs to."""
        async with self._sessions.read() as session:
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
        return [summary_of(c, counts.get(c.id, 0)) for c in rows]

    async def details(self, guild_id: int, chapter_id: int) -> ChapterDetails:
        """Everything /chapter info shows. The rows are kept until one of them changes; the
        criteria are judged on them at the clock's current time on every call."""
        record = await self._records.get(
            (guild_id, chapter_id), lambda: self._load_record(guild_id, chapter_id)
        )
        return ChapterDetails(
            chapter=record.chapter,
            members=record.members,
            roles=record.roles,
            agreements=record.agreements,
            criteria=judge_criteria(record.criteria, record.settings, self._clock.now()),
            history=record.history,
            settings=record.settings,
            merged_into=record.merged_into,
        )

    async def _load_record(self, guild_id: int, chapter_id: int) -> ChapterRecord:
        listing = await self._listing(guild_id)
        by_id = {c.summary.id: c.summary for c in listing}
        chapter = by_id.get(chapter_id)
        if chapter is None:
            raise NotFound("I don't know that chapter. Pick one from the list as you type.")
        async with self._sessions.read() as session:
            settings = await load_chapter_settings(session, guild_id)
            members = await session.execute(
                select(ChapterMember.user_id, ChapterMember.is_founder, ChapterMember.joined_at)
                .where(ChapterMember.chapter_id == chapter_id)
                .order_by(ChapterMember.joined_at, ChapterMember.user_id)
            )
            roles = await session.execute(
                select(
                    ChapterRoleAssignment.role,
                    ChapterRoleAssignment.user_id,
                    ChapterRoleAssignment.assigned_at,
                )
                .where(ChapterRoleAssignment.chapter_id == chapter_id)
                .order_by(ChapterRoleAssignment.role)
            )
            agreements = await session.execute(
                select(ChapterAgreement.__table__)
                .where(ChapterAgreement.chapter_id == chapter_id)
                .order_by(ChapterAgreement.id)
            )
            history = await session.execute(
                select(
                    ChapterStatusChange.from_status,
                    ChapterStatusChange.to_status,
                    ChapterStatusChange.reason,
                    ChapterStatusChange.actor_id,
                    ChapterStatusChange.at,
                )
                .where(ChapterStatusChange.chapter_id == chapter_id)
                .order_by(ChapterStatusChange.at.desc(), ChapterStatusChange.id.desc())
            )
            facts = await criteria_facts(session, chapter_id)
            return ChapterRecord(
                chapter=chapter,
                members=tuple(
                    MemberSummary(user, bool(founder), at) for user, founder, at in members
                ),
                roles=tuple(RoleHolder(role, user, at) for role, user, at in roles),
                agreements=tuple(
                    AgreementSummary(
                        id=a.id,
                        chapter_id=a.chapter_id,
                        text=a.text,
                        proposed_by=a.proposed_by,
                        created_at=a.created_at,
                        adopted_at=a.adopted_at,
                        adopted_by=a.adopted_by,
                    )
                    for a in agreements
                ),
                criteria=facts,
                history=tuple(
                    StatusChange(
                        ChapterStatus(from_status) if from_status else None,
                        ChapterStatus(to_status),
                        reason,
                        actor_id,
                        at,
                    )
                    for from_status, to_status, reason, actor_id, at in history
                ),
                settings=settings,
                merged_into=by_id.get(chapter.merged_into_id)
                if chapter.merged_into_id is not None
                else None,
            )
