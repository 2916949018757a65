"""Finding chapters: by id, name or city, for autocomplete, by region, and in full detail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotFound
from bot.services.chapter_settings import load_chapter_settings
from bot.services.chapters._store import ChapterStore, agreement_summary, gone_message, summary_of
from bot.services.chapters.criteria import criteria_report
from bot.services.chapters.lifecycle import ACTIVE_STATUSES
from bot.services.chapters.results import (
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
    ChapterStatus,
    ChapterStatusChange,
    OrganizerRegion,
)


class ChapterLookups(ChapterStore):
    async def get(self, guild_id: int, chapter_id: int) -> ChapterSummary:
        async with self._sessions.read() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            return await self._summary(session, chapter)

    async def resolve(
        self, guild_id: int, text: str, *, include_inactive: bool = False
    ) -> ChapterSummary:
        """The chapter a command option names: an id (autocomplete value), a name or a city.

        Raises NotFound with the closest names when nothing matches."""
        query = text.strip()
        if not query:
            raise InvalidInput("Name a chapter: start typing and pick one from the list.")
        async with self._sessions.read() as session:
            rows = await self._guild_chapters(session, guild_id, include_inactive=True)
            usable = [c for c in rows if include_inactive or c.status in ACTIVE_STATUSES]
            chapter = self._match(query, usable)
            if chapter is None:
                gone = self._match(query, [c for c in rows if c not in usable])
                if gone is not None:
                    raise NotFound(gone_message(gone, rows))
                names = [c.name for c in usable]
                close = [m for m, _s, _i in process.extract(query, names, limit=3, score_cutoff=50)]
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                listing = " See /chapter list for every chapter."
                raise NotFound(f"I don't know a chapter called “{query[:80]}”.{hint}{listing}")
            return await self._summary(session, chapter)

    @staticmethod
    def _match(query: str, chapters: Sequence[Chapter]) -> Chapter | None:
        wanted = as_row_id(query)
        if wanted is not None:
            for chapter in chapters:
                if chapter.id == wanted:
                    return chapter
        key = name_key(query)
        for chapter in chapters:
            if chapter.name_key == key:
                return chapter
        by_city = [c for c in chapters if normalize(c.city_label) == key]
        by_city = by_city or [c for c in chapters if normalize(c.city_label.split(",")[0]) == key]
        return by_city[0] if len(by_city) == 1 else None

    async def search(
        self, guild_id: int, text: str, *, limit: int = 25, include_inactive: bool = False
    ) -> list[ChapterSummary]:
        """For autocomplete: names or cities starting with / containing ``text``, then fuzzy."""
        key = normalize(text)
        async with self._sessions.read() as session:
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
        return [summary_of(c, counts.get(c.id, 0)) for c in ranked[:limit]]

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
        async with self._sessions.read() as session:
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
        return [summary_of(c, counts.get(c.id, 0)) for c in rows]

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
        now = self._clock.now()
        async with self._sessions.read() as session:
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
            report = await criteria_report(session, chapter.id, settings, now)
            merged_into = None
            if chapter.merged_into_id is not None:
                target = await session.get(Chapter, chapter.merged_into_id)
                if target is not None:
                    merged_into = await self._summary(session, target)
            return ChapterDetails(
                chapter=summary_of(chapter, len(members)),
                members=tuple(MemberSummary(m.user_id, m.is_founder, m.joined_at) for m in members),
                roles=tuple(RoleHolder(r.role, r.user_id, r.assigned_at) for r in roles),
                agreements=tuple(agreement_summary(a) for a in agreements),
                criteria=report,
                history=tuple(
                    StatusChange(
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
