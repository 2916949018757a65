"""Founding a chapter (a proposal names it and makes its proposer a founder) and recording the
Discord role and channel the cog created for it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict
from bot.services.chapters._store import ChapterStore, summary_of
from bot.services.chapters.lifecycle import ACTIVE_STATUSES, STATUS_LABELS
from bot.services.chapters.results import ChapterSummary
from bot.services.chapters.text import NAME_MAX_CHARS, clean_name, name_key
from bot.services.places import Place
from db.models import Chapter, ChapterMember, ChapterStatus, ChapterStatusChange


class ChapterFounding(ChapterStore):
    async def propose(
        self, guild_id: int, user_id: int, city: str, name: str | None = None
    ) -> ChapterSummary:
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
    ) -> ChapterSummary:
        now = self._clock.now()
        async with self._sessions.write() as session:
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
                name_key=name_key(final),
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
            return summary_of(chapter, 1)

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
                Chapter.name_key == name_key(name),
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
    ) -> ChapterSummary:
        """Remember the Discord role/channel created for the chapter (None leaves it as is)."""
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if role_id is not None:
                chapter.role_id = role_id
            if channel_id is not None:
                chapter.channel_id = channel_id
            return await self._summary(session, chapter)

    async def forget_discord(
        self, guild_id: int, chapter_id: int, *, role: bool = False, channel: bool = False
    ) -> None:
        """Drop a recorded role/channel id that no longer exists on Discord (deleted by hand)."""
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            if role:
                chapter.role_id = None
            if channel:
                chapter.channel_id = None
