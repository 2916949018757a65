"""Chapter roles on Discord follow the members in the database, through the effects outbox.

Every membership change writes its role grant or removal as an effect in its own transaction
(:meth:`ChapterDiscordSync._grant_role`, :meth:`ChapterDiscordSync._take_role_back`), so the
membership and the Discord change happen together or not at all, whatever Discord answers.
:meth:`ChapterDiscordSync.sync_roles` repairs anything else: given who holds each chapter role on
Discord, it writes the grants and removals that make the holders equal the members. The desired
state is read inside the same write transaction, so a join or leave committed meanwhile is
either seen here or writes its own, newer effect (which supersedes ours).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.services.chapters._store import ChapterStore
from bot.services.chapters.results import ChapterSummary
from bot.services.effects import EffectRequest, role_grant, role_removal
from db.models import Chapter, ChapterMember, MemberProfile


@dataclass(frozen=True, slots=True)
class RoleSync:
    """What reconciling one chapter's role wrote: members to give it to, holders to take it from."""

    chapter_id: int
    role_id: int
    granted: tuple[int, ...]
    removed: tuple[int, ...]


def _hint(chapter: Chapter) -> str:
    return f"Once it's fixed, run /chapter provision chapter:{chapter.name}."


class ChapterDiscordSync(ChapterStore):
    def _role_effects(
        self, chapter: Chapter, user_ids: Iterable[int], *, grant: bool
    ) -> list[EffectRequest]:
        if chapter.role_id is None:
            return []
        make = role_grant if grant else role_removal
        verb = "give" if grant else "take back"
        why = "joined the chapter" if grant else "is no longer a member of the chapter"
        return [
            make(
                chapter.guild_id,
                user_id,
                chapter.role_id,
                describe=f"{verb} the **{chapter.name}** role ({'to' if grant else 'from'} "
                f"<@{user_id}>)",
                reason=f"chapterbot: {why} {chapter.id}",
                lane=f"roles:chapter:{chapter.id}",
                hint=_hint(chapter),
            )
            for user_id in user_ids
        ]

    async def _grant_role(
        self, session: AsyncSession, chapter: Chapter, user_ids: Iterable[int]
    ) -> None:
        """Write the role grants for new members in the caller's transaction."""
        if self._effects is not None:
            await self._effects.enqueue(session, *self._role_effects(chapter, user_ids, grant=True))

    async def _take_role_back(
        self, session: AsyncSession, chapter: Chapter, user_ids: Iterable[int]
    ) -> None:
        if self._effects is not None:
            await self._effects.enqueue(
                session, *self._role_effects(chapter, user_ids, grant=False)
            )

    async def _left_the_server(self, session: AsyncSession, guild_id: int, user_id: int) -> bool:
        """The bot recorded that this member left (an old button clicked after leaving)."""
        profile = await session.get(MemberProfile, (guild_id, user_id))
        return profile is not None and profile.left_at is not None

    async def reapply_role(self, guild_id: int, chapter_id: int, user_id: int) -> ChapterSummary:
        """A member lacks the chapter's role on Discord: give it again (``/chapter join``)."""
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            if await session.get(ChapterMember, (chapter.id, user_id)) is None:
                raise NotFound(f"You're not a member of {chapter.name}.")
            await self._grant_role(session, chapter, [user_id])
            return await self._summary(session, chapter)

    async def chapter_role_ids(self, guild_id: int) -> dict[int, int]:
        """Role id → chapter id for every chapter of the guild that has a role."""
        async with self._sessions.read() as session:
            rows = await session.execute(
                select(Chapter.role_id, Chapter.id).where(
                    Chapter.guild_id == guild_id, Chapter.role_id.is_not(None)
                )
            )
            return {
                role_id: chapter_id for role_id, chapter_id in rows.all() if role_id is not None
            }

    async def sync_roles(
        self,
        guild_id: int,
        present_user_ids: Iterable[int],
        holders: Mapping[int, Iterable[int]],
        *,
        chapter_id: int | None = None,
    ) -> list[RoleSync]:
        """Make each chapter role's holders equal the chapter's members who are in the server.

        ``holders`` maps a role id to who holds it on Discord now (a chapter whose role is not in
        it, e.g. deleted on Discord, is skipped: ``/chapter provision`` makes a new one);
        ``present_user_ids`` is the server's member list. Writes the missing grants and removals
        as effects; with ``chapter_id`` only that chapter. Archived and merged chapters keep
        their members and so their role (the channel stays readable as history).
        """
        present = set(present_user_ids)
        results: list[RoleSync] = []
        async with self._sessions.write() as session:
            query = select(Chapter).where(
                Chapter.guild_id == guild_id, Chapter.role_id.is_not(None)
            )
            if chapter_id is not None:
                query = query.where(Chapter.id == chapter_id)
            for chapter in await session.scalars(query.order_by(Chapter.id)):
                role_id = chapter.role_id
                if role_id is None or role_id not in holders:
                    continue
                members = {m.user_id for m in await self._members(session, chapter.id)}
                desired = members & present
                actual = set(holders[role_id])
                grant = sorted(desired - actual)
                remove = sorted(actual - desired)
                await self._grant_role(session, chapter, grant)
                await self._take_role_back(session, chapter, remove)
                results.append(RoleSync(chapter.id, role_id, tuple(grant), tuple(remove)))
        return results
