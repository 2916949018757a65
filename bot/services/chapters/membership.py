"""Joining and leaving chapters, including members who left the server."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotAllowed, NotFound
from bot.services.chapters.discord_sync import ChapterDiscordSync
from bot.services.chapters.results import MembershipChange
from db.models import Chapter, ChapterMember, ChapterRoleAssignment


class ChapterMembership(ChapterDiscordSync):
    async def join(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        try:
            return await self._join(guild_id, chapter_id, user_id)
        except IntegrityError as exc:  # a double click raced past the check
            raise Conflict("You're already a member of that chapter.") from exc

    async def _join(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        now = self._clock.now()
        async with self._sessions.write() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            if await self._left_the_server(session, guild_id, user_id):
                raise NotAllowed("You're no longer a member of this server, so you can't join.")
            if await session.get(ChapterMember, (chapter.id, user_id)) is not None:
                raise Conflict(f"You're already a member of {chapter.name}.")
            session.add(
                ChapterMember(
                    chapter_id=chapter.id, user_id=user_id, is_founder=False, joined_at=now
                )
            )
            await session.flush()
            await self._grant_role(session, chapter, [user_id])
            transitions = await self._reevaluate(session, chapter, now, "a member joined")
            return MembershipChange(
                chapter=await self._summary(session, chapter),
                user_id=user_id,
                transitions=transitions,
            )

    async def leave(self, guild_id: int, chapter_id: int, user_id: int) -> MembershipChange:
        now = self._clock.now()
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id, lock=True)
            membership = await session.get(ChapterMember, (chapter.id, user_id))
            if membership is None:
                raise NotFound(f"You're not a member of {chapter.name}.")
            return await self._remove_member(
                session, chapter, membership, now, "a member left", take_role_back=True
            )

    async def remove_member_everywhere(self, guild_id: int, user_id: int) -> list[MembershipChange]:
        """The member left the server: take them out of every chapter (and its roles)."""
        async with self._sessions.write() as session:
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
        async with self._sessions.write() as session:
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
        *,
        take_role_back: bool = False,
    ) -> MembershipChange:
        """``take_role_back``: the member is still in the server (left the chapter only); who
        left the server lost every role with it."""
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
        if take_role_back:
            await self._take_role_back(session, chapter, [membership.user_id])
        transitions = await self._reevaluate(session, chapter, now, trigger)
        return MembershipChange(
            chapter=await self._summary(session, chapter),
            user_id=membership.user_id,
            vacated_roles=tuple(sorted(a.role for a in held)),
            transitions=transitions,
        )
