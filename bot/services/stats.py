"""Counts for /about, one small query each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from db.models import (
    Affiliate,
    Chapter,
    ChapterStatus,
    GuildConfig,
    MemberProfile,
    Timer,
    TimerStatus,
)
from db.session import Sessions


@dataclass(frozen=True, slots=True)
class Stats:
    configured_guilds: int
    pending_timers: int
    failed_timers: int
    members: int = 0
    chapters: int = 0
    formal_chapters: int = 0
    affiliates: int = 0

    @property
    def extra(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Members known", str(self.members)),
            ("Chapters", f"{self.chapters} ({self.formal_chapters} formal)"),
            ("Affiliates", str(self.affiliates)),
        )


class StatsService:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def snapshot(self, guild_id: int | None = None) -> Stats:
        """Bot-wide timer counts; member, chapter and affiliate counts for ``guild_id`` if given."""

        def counted(*where: ColumnElement[bool], guild: InstrumentedAttribute[int]) -> Select[Any]:
            query = select(func.count()).where(*where)
            return query if guild_id is None else query.where(guild == guild_id)

        async with self._sessions.read() as session:
            guilds = await session.scalar(select(func.count()).select_from(GuildConfig))
            rows = await session.execute(select(Timer.status, func.count()).group_by(Timer.status))
            by_status = {status: n for status, n in rows.all()}
            members = await session.scalar(
                counted(MemberProfile.left_at.is_(None), guild=MemberProfile.guild_id)
            )
            chapters = await session.scalar(
                counted(Chapter.active.is_(True), guild=Chapter.guild_id)
            )
            formal = await session.scalar(
                counted(Chapter.status == ChapterStatus.FORMAL, guild=Chapter.guild_id)
            )
            affiliates = await session.scalar(
                counted(Affiliate.active.is_(True), guild=Affiliate.guild_id)
            )
        return Stats(
            configured_guilds=guilds or 0,
            pending_timers=by_status.get(TimerStatus.PENDING, 0),
            failed_timers=by_status.get(TimerStatus.FAILED, 0),
            members=members or 0,
            chapters=chapters or 0,
            formal_chapters=formal or 0,
            affiliates=affiliates or 0,
        )
