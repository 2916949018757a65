"""Chapter roles: assigning them, and the facilitator/note-taker rotation."""

from __future__ import annotations

from bot.errors import InvalidInput, NotFound
from bot.services.chapters._store import ChapterStore
from bot.services.chapters.lifecycle import ACTIVE_STATUSES
from bot.services.chapters.results import ChapterSummary, RoleChange, RoleHolder, RotationResult
from bot.services.chapters.text import ROTATING_ROLES, normalize_role
from db.models import ChapterMember, ChapterRoleAssignment


class ChapterRoles(ChapterStore):
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
        async with self._sessions.write() as session:
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
            transitions = await self._reevaluate(
                session, chapter, now, f"the {role_key} role was assigned"
            )
            return RoleChange(
                chapter=await self._summary(session, chapter),
                role=role_key,
                user_id=user_id,
                previous_user_id=previous,
                transitions=transitions,
            )

    async def set_rotation(
        self,
        guild_id: int,
        chapter_id: int,
        enabled: bool,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> ChapterSummary:
        async with self._sessions.write() as session:
            chapter = await self._active_chapter(session, guild_id, chapter_id, lock=True)
            await self._require_steward(
                session, chapter, actor_id, actor_is_organizer, "change role rotation"
            )
            chapter.rotate_roles = enabled
            return await self._summary(session, chapter)

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
        async with self._sessions.write() as session:
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
            transitions = await self._reevaluate(session, chapter, now, "roles were rotated")
            return RotationResult(
                chapter=await self._summary(session, chapter),
                holders=tuple(holders),
                previous=previous,
                transitions=transitions,
            )

    async def rotate_if_enabled(self, guild_id: int, chapter_id: int) -> RotationResult | None:
        """For the meetings feature: rotate once per meeting when the chapter opted in."""
        async with self._sessions.read() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            if not chapter.rotate_roles or chapter.status not in ACTIVE_STATUSES:
                return None
        return await self.rotate(guild_id, chapter_id)
