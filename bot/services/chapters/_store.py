"""What every part of the chapter service shares: its resources, row lookups inside a
transaction, snapshots, the steward check, and evaluating and recording status changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Conflict, NotAllowed, NotFound
from bot.services.chapter_settings import GuildChapterSettings, load_chapter_settings
from bot.services.chapters.criteria import CriteriaFacts, criteria_report
from bot.services.chapters.lifecycle import (
    ACTIVE_STATUSES,
    EVALUATED_STATUSES,
    LAPSE_AFTER,
    STATUS_LABELS,
    next_status,
)
from bot.services.chapters.results import (
    AgreementSummary,
    ChapterSummary,
    MemberSummary,
    RoleHolder,
    StatusChange,
    Transition,
)
from bot.services.effects import EffectService
from bot.services.places import Gazetteer, normalize
from bot.services.read_cache import ReadCache
from db.models import (
    Chapter,
    ChapterAgreement,
    ChapterMeeting,
    ChapterMember,
    ChapterRoleAssignment,
    ChapterSettings,
    ChapterStatus,
    ChapterStatusChange,
)
from db.session import Sessions


def summary_of(chapter: Chapter, member_count: int) -> ChapterSummary:
    return ChapterSummary(
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


def agreement_summary(row: ChapterAgreement) -> AgreementSummary:
    return AgreementSummary(
        id=row.id,
        chapter_id=row.chapter_id,
        text=row.text,
        proposed_by=row.proposed_by,
        created_at=row.created_at,
        adopted_at=row.adopted_at,
        adopted_by=row.adopted_by,
    )


def gone_message(
    chapter: Chapter | ChapterSummary, rows: Sequence[Chapter] | Sequence[ChapterSummary]
) -> str:
    """Why an archived, lapsed or merged chapter can't be used, and what to do instead."""
    if chapter.status == ChapterStatus.MERGED and chapter.merged_into_id is not None:
        target = next((c for c in rows if c.id == chapter.merged_into_id), None)
        if target is not None:
            return f"{chapter.name} was merged into {target.name}: use that chapter instead."
    return (
        f"{chapter.name} is {STATUS_LABELS[ChapterStatus(chapter.status)]}. "
        "Ask an organizer if it should come back (/chapter set-status)."
    )


@dataclass(frozen=True, slots=True)
class ListedChapter:
    """A chapter of the cached guild listing, with the keys lookups match on."""

    summary: ChapterSummary
    name_key: str
    city_key: str  #: the whole label, normalized ("chicago il us")
    town_key: str  #: the label up to its first comma, normalized ("chicago")


@dataclass(frozen=True, slots=True)
class ChapterRecord:
    """The rows behind /chapter info, as read (the criteria are judged when asked)."""

    chapter: ChapterSummary
    members: tuple[MemberSummary, ...]
    roles: tuple[RoleHolder, ...]
    agreements: tuple[AgreementSummary, ...]
    criteria: CriteriaFacts
    history: tuple[StatusChange, ...]
    settings: GuildChapterSettings
    merged_into: ChapterSummary | None


_MEMBER_COUNT = (
    select(func.count())
    .where(ChapterMember.chapter_id == Chapter.id)
    .correlate(Chapter)
    .scalar_subquery()
    .label("member_count")
)


class ChapterStore:
    """The base of :class:`~bot.services.chapters.ChapterService`'s parts."""

    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        places: Gazetteer,
        *,
        lapse_after: timedelta = LAPSE_AFTER,
        effects: EffectService | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._places = places
        self.lapse_after = lapse_after
        #: where role changes are written (None: nothing is changed on Discord, e.g. in tests)
        self._effects = effects
        self._listings: ReadCache[int, tuple[ListedChapter, ...]] = ReadCache(
            sessions, Chapter, ChapterMember
        )
        self._records: ReadCache[tuple[int, int], ChapterRecord] = ReadCache(
            sessions,
            Chapter,
            ChapterMember,
            ChapterRoleAssignment,
            ChapterAgreement,
            ChapterStatusChange,
            ChapterMeeting,
            ChapterSettings,
        )

    async def _listing(self, guild_id: int) -> tuple[ListedChapter, ...]:
        """Every chapter of the guild (inactive ones too) with its member count, ordered by name;
        one query, kept until a chapter or a membership changes."""
        return await self._listings.get(guild_id, lambda: self._load_listing(guild_id))

    async def _load_listing(self, guild_id: int) -> tuple[ListedChapter, ...]:
        query = (
            select(Chapter.__table__, _MEMBER_COUNT)
            .where(Chapter.guild_id == guild_id)
            .order_by(Chapter.name_key, Chapter.id)
        )
        async with self._sessions.read() as session:
            rows = (await session.execute(query)).all()
        listed = []
        for row in rows:
            summary = ChapterSummary(
                id=row.id,
                guild_id=row.guild_id,
                name=row.name,
                geoname_id=row.geoname_id,
                city_label=row.city_label,
                region_code=row.region_code,
                region_name=row.region_name or "",
                country_code=row.country_code,
                continent_code=row.continent_code,
                timezone=row.timezone,
                status=ChapterStatus(row.status),
                role_id=row.role_id,
                channel_id=row.channel_id,
                member_count=row.member_count,
                rotate_roles=bool(row.rotate_roles),
                created_by=row.created_by,
                created_at=row.created_at,
                status_changed_at=row.status_changed_at,
                merged_into_id=row.merged_into_id,
            )
            city = row.city_label
            listed.append(
                ListedChapter(summary, row.name_key, normalize(city), normalize(city.split(",")[0]))
            )
        return tuple(listed)

    # ------------------------------------------------------------------ rows

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
            raise Conflict(gone_message(chapter, rows))
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

    async def _summary(self, session: AsyncSession, chapter: Chapter) -> ChapterSummary:
        count = await session.scalar(
            select(func.count()).where(ChapterMember.chapter_id == chapter.id)
        )
        return summary_of(chapter, count or 0)

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

    # ------------------------------------------------------------------ status

    async def _reevaluate(
        self,
        session: AsyncSession,
        chapter: Chapter,
        now: datetime,
        trigger: str,
        settings: GuildChapterSettings | None = None,
    ) -> tuple[Transition, ...]:
        """After a change to one of its inputs: evaluate the chapter (if its status is one the
        evaluation may change) and return the transition it made, for the caller to announce."""
        if chapter.status not in EVALUATED_STATUSES:
            return ()
        if settings is None:
            settings = await load_chapter_settings(session, chapter.guild_id)
        report = await criteria_report(session, chapter.id, settings, now)
        chapter.last_evaluated_at = now
        decision = next_status(
            ChapterStatus(chapter.status),
            report,
            now - chapter.status_changed_at,
            lapse_after=self.lapse_after,
            trigger=trigger,
        )
        if decision is None:
            return ()
        return (await self._transition(session, chapter, decision.to_status, decision.reason, now),)

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
        """Change the status and write it to the chapter's history."""
        before = ChapterStatus(chapter.status)
        chapter.status = to
        chapter.status_changed_at = now
        chapter.active = True if to in ACTIVE_STATUSES else None
        change = ChapterStatusChange(
            chapter_id=chapter.id,
            from_status=before,
            to_status=to,
            reason=reason[:2000],
            actor_id=actor_id,
            at=now,
        )
        session.add(change)
        await session.flush()
        return Transition(
            chapter=await self._summary(session, chapter),
            from_status=before,
            to_status=to,
            reason=reason,
            at=now,
            automatic=actor_id is None,
            change_id=change.id,
        )
