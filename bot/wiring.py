"""Builds every service from the resources the entry point created. No globals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, SystemClock
from bot.services.affiliates import AffiliateService
from bot.services.chapter_settings import ChapterSettingsService
from bot.services.chapters import ChapterService
from bot.services.command_sync import CommandSyncService
from bot.services.effects import EffectService
from bot.services.guilds import GuildService
from bot.services.markers import MarkerService
from bot.services.meetings import MeetingService
from bot.services.member_map import MemberMapService
from bot.services.members import MemberService
from bot.services.places import Gazetteer
from bot.services.stats import StatsService
from bot.services.timers import TimerService
from bot.services.votes import VoteService
from bot.services.welcome import WelcomeService
from bot.settings import Settings
from bot.timers import TimerDispatcher
from db.session import Sessions, backend_name, create_session_factory


@dataclass
class Services:
    clock: Clock
    sessions: Sessions
    database_backend: str
    timers: TimerService
    dispatcher: TimerDispatcher
    effects: EffectService
    guilds: GuildService
    stats: StatsService
    command_sync: CommandSyncService
    places: Gazetteer
    chapter_settings: ChapterSettingsService
    chapters: ChapterService
    members: MemberService
    member_map: MemberMapService
    markers: MarkerService
    affiliates: AffiliateService
    meetings: MeetingService
    votes: VoteService
    welcome: WelcomeService


def build_services(
    settings: Settings,
    engine: AsyncEngine,
    clock: Clock | None = None,
    places: Gazetteer | None = None,
) -> Services:
    """``places`` can be shared between bots in one process (tests): it is read-only."""
    clock = clock or SystemClock()
    sessions = create_session_factory(engine)
    gazetteer = places or Gazetteer(index_dir=settings.gazetteer_dir)
    timers = TimerService(sessions, clock)
    dispatcher = TimerDispatcher(
        timers,
        clock,
        max_attempts=settings.timer_max_attempts,
        retry_base_seconds=settings.timer_retry_base_seconds,
        refresh_seconds=settings.timer_refresh_seconds,
        late_after_seconds=settings.timer_late_after_seconds,
    )
    effects = EffectService(
        sessions,
        clock,
        max_attempts=settings.effect_max_attempts,
        retry_base_seconds=settings.effect_retry_base_seconds,
    )
    chapters = ChapterService(sessions, clock, gazetteer, effects=effects)
    return Services(
        clock=clock,
        sessions=sessions,
        database_backend=backend_name(engine),
        timers=timers,
        dispatcher=dispatcher,
        effects=effects,
        guilds=GuildService(sessions, clock),
        stats=StatsService(sessions),
        command_sync=CommandSyncService(sessions, clock),
        places=gazetteer,
        chapter_settings=ChapterSettingsService(sessions, clock),
        chapters=chapters,
        members=MemberService(sessions, clock, gazetteer),
        member_map=MemberMapService(sessions, clock, gazetteer),
        markers=MarkerService(sessions, clock),
        affiliates=AffiliateService(sessions, clock, gazetteer),
        meetings=MeetingService(
            sessions,
            clock,
            timers,
            chapters,
            effects,
            skip_summary_delay=timedelta(seconds=settings.meeting_skip_summary_seconds),
        ),
        votes=VoteService(sessions, clock, timers, effects),
        welcome=WelcomeService(sessions, clock, timers, effects, chapters, gazetteer),
    )
