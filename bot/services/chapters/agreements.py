"""A chapter's written agreements: proposed by members, adopted by its stewards."""

from __future__ import annotations

from sqlalchemy import select

from bot.errors import Conflict, NotAllowed, NotFound
from bot.services.chapters._store import ChapterStore, agreement_summary
from bot.services.chapters.results import AgreementChange, AgreementSummary
from bot.services.chapters.text import AGREEMENT_MAX_CHARS, clean_text
from db.models import ChapterAgreement, ChapterMember


class ChapterAgreements(ChapterStore):
    async def add_agreement(
        self,
        guild_id: int,
        chapter_id: int,
        text: str,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> AgreementSummary:
        body = clean_text(text, what="agreement", limit=AGREEMENT_MAX_CHARS)
        now = self._clock.now()
        async with self._sessions.write() as session:
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
            return agreement_summary(row)

    async def list_agreements(self, guild_id: int, chapter_id: int) -> list[AgreementSummary]:
        async with self._sessions.read() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            rows = await session.scalars(
                select(ChapterAgreement)
                .where(ChapterAgreement.chapter_id == chapter.id)
                .order_by(ChapterAgreement.id)
            )
            return [agreement_summary(row) for row in rows]

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
        async with self._sessions.write() as session:
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
            transitions = await self._reevaluate(session, chapter, now, "an agreement was adopted")
            return AgreementChange(
                agreement=agreement_summary(row),
                chapter=await self._summary(session, chapter),
                transitions=transitions,
            )
