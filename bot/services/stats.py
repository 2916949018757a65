"""Counts for /about: one query, cached until a counted table is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.services.read_cache import ReadCache
from db.models import (
    Affiliate,
    Chapter,
    ChapterStatus,
    Effect,
    EffectStatus,
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
    #: Discord changes (roles, DMs, posts) still to apply, and those that failed for good
    pending_effects: int = 0
    failed_effects: int = 0

    @property
    def extra(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Members known", str(self.members)),
            ("Chapters", f"{self.chapters} ({self.formal_chapters} formal)"),
            ("Affiliates", str(self.affiliates)),
            (
                "Discord changes",
                f"{self.pending_effects} pending, {self.failed_effects} failed",
            ),
        )


class StatsService:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self._cache: ReadCache[int | None, Stats] = ReadCache(
            sessions, GuildConfig, Timer, MemberProfile, Chapter, Affiliate, Effect
        )

    async def snapshot(self, guild_id: int | None = None) -> Stats:
        """Bot-wide timer counts; member, chapter and affiliate counts for ``guild_id`` if given.

        Kept until one of the counted tables is written (see :mod:`bot.services.read_cache`)."""
        return await self._cache.get(guild_id, lambda: self._count(guild_id))

    async def _count(self, guild_id: int | None) -> Stats:
        """Every count in one query."""

        def counted(*where: ColumnElement[bool], guild: InstrumentedAttribute[int]) -> Any:
            query = select(func.count()).where(*where)
            if guild_id is not None:
                query = query.where(guild == guild_id)
            return query.scalar_subquery()

        query = select(
            select(func.count()).select_from(GuildConfig).scalar_subquery(),
            select(func.count()).where(Timer.status == TimerStatus.PENDING).scalar_subquery(),
            select(func.count()).where(Timer.status == TimerStatus.FAILED).scalar_subquery(),
            counted(MemberProfile.left_at.is_(None), guild=MemberProfile.guild_id),
            counted(Chapter.active.is_(True), guild=Chapter.guild_id),
            counted(Chapter.status == ChapterStatus.FORMAL, guild=Chapter.guild_id),
            counted(Affiliate.active.is_(True), guild=Affiliate.guild_id),
            counted(Effect.status == EffectStatus.PENDING, guild=Effect.guild_id),  # type: ignore[arg-type]
            counted(Effect.status == EffectStatus.FAILED, guild=Effect.guild_id),  # type: ignore[arg-type]
        )
        async with self._sessions.read() as session:
            row = (await session.execute(query)).one()
        guilds, pending, failed, members, chapters, formal, affiliates, effects, broken = (
            n or 0 for n in row
        )
        return Stats(
            configured_guilds=guilds,
            pending_timers=pending,
            failed_timers=failed,
            members=members,
            chapters=chapters,
            formal_chapters=formal,
            affiliates=affiliates,
            pending_effects=effects,
            failed_effects=broken,
        )
