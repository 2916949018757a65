"""Status changes: the evaluation against the criteria, and organizers' archive, merge and
set-status."""

from __future__ import annotations

from sqlalchemy import select

from bot.errors import Conflict, InvalidInput
from bot.services.chapter_settings import load_chapter_settings
from bot.services.chapters.discord_sync import ChapterDiscordSync
from bot.services.chapters.lifecycle import ACTIVE_STATUSES, EVALUATED_STATUSES, STATUS_LABELS
from bot.services.chapters.results import MergeResult, Transition
from bot.services.chapters.text import REASON_MAX_CHARS, clean_text
from db.models import Chapter, ChapterMember, ChapterStatus


class ChapterStatusChanges(ChapterDiscordSync):
    async def evaluate(self, guild_id: int, chapter_id: int) -> Transition | None:
        now = self._clock.now()
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            transitions = await self._reevaluate(session, chapter, now, "an evaluation")
            return transitions[0] if transitions else None

    async def evaluate_guild(
        self, guild_id: int, *, trigger: str = "the daily evaluation"
    ) -> list[Transition]:
        """Evaluate every forming, formal and at-risk chapter of the guild."""
        now = self._clock.now()
        transitions: list[Transition] = []
        async with self._sessions.write() as session:
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
                transitions += await self._reevaluate(session, chapter, now, trigger, settings)
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
        why = clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        if status == ChapterStatus.MERGED:
            raise InvalidInput("To merge chapters use /chapter merge, which also moves members.")
        now = self._clock.now()
        async with self._sessions.write() as session:
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
        why = clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        now = self._clock.now()
        async with self._sessions.write() as session:
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
        agreements stay with the source as its history; the moved members' grants of the
        target's role are written with the move."""
        why = clean_text(reason, what="reason", limit=REASON_MAX_CHARS)
        if source_id == target_id:
            raise InvalidInput("Pick two different chapters: the one to merge and the one to keep.")
        now = self._clock.now()
        async with self._sessions.write() as session:
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
            await self._grant_role(session, target, moved)
            merged = await self._transition(
                session,
                source,
                ChapterStatus.MERGED,
                f"merged into {target.name}: {why}",
                now,
                actor_id=actor_id,
            )
            await session.flush()
            target_transitions = await self._reevaluate(
                session, target, now, f"{source.name} was merged into it"
            )
            return MergeResult(
                source=await self._summary(session, source),
                target=await self._summary(session, target),
                moved_user_ids=tuple(moved),
                merged=merged,
                target_transitions=target_transitions,
            )
