"""MeetingService against a real migrated SQLite database and a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services.chapters import ChapterService
from bot.services.effects import EffectRequest, EffectService, channel_post, direct_message
from bot.services.meetings import (
    DueReminder,
    MeetingService,
    OccurrenceView,
    reminder_key,
    skip_summary_key,
)
from bot.services.places import Gazetteer
from bot.services.timers import TimerService
from db.models import (
    Chapter,
    ChapterMeeting,
    ChapterMember,
    ChapterStatus,
    DirectMessageState,
    Effect,
    MemberProfile,
    ReminderDelivery,
    ReminderStatus,
    RsvpAnswer,
    Timer,
    TimerStatus,
)

GUILD = 1000
FOUNDER = 1
MEMBERS = (1, 2, 3, 4, 5)
OUTSIDER = 77
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timers(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> TimerService:
    return TimerService(sessions, clock)


@pytest.fixture
def chapters(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> ChapterService:
    return ChapterService(sessions, clock, gazetteer)


@pytest.fixture
def service(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    timers: TimerService,
    chapters: ChapterService,
) -> MeetingService:
    effects = EffectService(sessions, clock)
    return MeetingService(sessions, clock, timers, chapters, effects, window=timedelta(days=35))


class Renderer:
    """Reminder messages as plain outbox requests (the cog renders real ones)."""

    def direct(
        self, occurrence: OccurrenceView, due: DueReminder, lead: timedelta
    ) -> EffectRequest:
        channel = channel_post(1, guild_id=GUILD, content=f"<@{due.user_id}>", purpose="reminder")
        return direct_message(
            due.user_id,
            purpose="reminder",
            dedupe_key=due.dedupe_key,
            content=f"{occurrence.title} in {lead}",
            fallback=channel,
        )

    def channel(
        self, occurrence: OccurrenceView, user_ids: Sequence[int], lead: timedelta
    ) -> EffectRequest | None:
        return channel_post(
            1,
            guild_id=GUILD,
            content=" ".join(f"<@{u}>" for u in user_ids),
            mention_user_ids=user_ids,
            purpose="reminder",
            dedupe_key=f"reminder-channel:{occurrence.id}:{lead}",
        )


@pytest.fixture
async def chapter_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions.begin() as session:
        chapter = Chapter(
            guild_id=GUILD,
            name="New York",
            name_key="new york",
            geoname_id=5128581,
            city_label="New York",
            region_code="NY",
            country_code="US",
            continent_code="NA",
            timezone="America/New_York",
            status=ChapterStatus.FORMING,
            created_by=FOUNDER,
            created_at=START,
            status_changed_at=START,
        )
        session.add(chapter)
        await session.flush()
        for user in MEMBERS:
            session.add(
                ChapterMember(
                    chapter_id=chapter.id,
                    user_id=user,
                    is_founder=user == FOUNDER,
                    joined_at=START,
                )
            )
        return chapter.id


async def schedule(
    service: MeetingService, chapter_id: int, *, repeat: str = "1st and 3rd Tuesday", **kw: str
) -> int:
    preview = await service.preview(
        GUILD,
        chapter_id,
        actor_id=FOUNDER,
        actor_is_organizer=False,
        title=kw.get("title", "Chapter meeting"),
        start=kw.get("start", "Jan 5 7pm"),
        duration=kw.get("duration", "90m"),
        location=kw.get("location", "Library, 2nd floor"),
        repeat=repeat,
    )
    series = await service.schedule(GUILD, preview, actor_id=FOUNDER, actor_is_organizer=False)
    return series.upcoming[0].id


async def pending_timers(sessions: async_sessionmaker[AsyncSession]) -> dict[str, datetime]:
    async with sessions() as session:
        rows = await session.scalars(select(Timer).where(Timer.status == TimerStatus.PENDING))
        return {r.key or "": r.run_at for r in rows}


async def test_schedule_materialises_the_window_with_reminder_timers(
    service: MeetingService, chapter_id: int, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await schedule(service, chapter_id)
    upcoming = await service.upcoming(GUILD, chapter_id=chapter_id)
    # the window (35 days from 1 Dec) holds no meeting, yet the next one is always made
    assert [o.id for o in upcoming] == [first]
    timers = await pending_timers(sessions)
    assert "meeting-series:1" in timers
    first_view = await service.get(GUILD, first)
    assert first_view.starts_at == datetime(2027, 1, 6, 0, 0, tzinfo=UTC)  # 19:00 EST
    assert timers[reminder_key(first, 3 * 24 * 60)] == first_view.starts_at - timedelta(days=3)
    assert timers[reminder_key(first, 120)] == first_view.starts_at - timedelta(hours=2)


async def test_extend_keeps_local_time_across_dst(
    service: MeetingService, chapter_id: int, clock: FakeClock
) -> None:
    await schedule(service, chapter_id)
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    await service.extend(1)
    starts = [o.starts_at for o in await service.upcoming(GUILD, chapter_id=chapter_id)]
    assert [s.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for s in starts] == [
        "03-02 19:00",
        "03-16 19:00",
    ]
    assert starts[1] - starts[0] == timedelta(days=14) - timedelta(hours=1)


async def test_only_stewards_schedule_and_members_rsvp(
    service: MeetingService, chapter_id: int
) -> None:
    with pytest.raises(NotAllowed):
        await service.preview(
            GUILD,
            chapter_id,
            actor_id=3,
            actor_is_organizer=False,
            title="x",
            start="Jan 5 7pm",
            duration="1h",
            location="here",
            repeat="once",
        )
    occurrence = await schedule(service, chapter_id, repeat="once")
    await service.rsvp(GUILD, occurrence, 2, RsvpAnswer.GOING)
    await service.rsvp(GUILD, occurrence, 3, RsvpAnswer.GOING)
    view = await service.rsvp(GUILD, occurrence, 3, RsvpAnswer.MAYBE)  # changing one's mind
    assert (view.counts.going, view.counts.maybe, view.counts.cant) == (1, 1, 0)
    with pytest.raises(NotAllowed):
        await service.rsvp(GUILD, occurrence, OUTSIDER, RsvpAnswer.GOING)
    with pytest.raises(NotFound):
        await service.rsvp(GUILD + 1, occurrence, 2, RsvpAnswer.GOING)


async def test_edit_one_occurrence_moves_its_reminders(
    service: MeetingService, chapter_id: int, sessions: async_sessionmaker[AsyncSession]
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="weekly", start="Dec 8 7pm")
    view = await service.edit_occurrence(
        GUILD,
        occurrence,
        actor_id=FOUNDER,
        actor_is_organizer=False,
        start="Dec 9 6pm",
        location="Cafe",
    )
    assert view.starts_at == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    assert view.location == "Cafe"
    timers = await pending_timers(sessions)
    assert timers[reminder_key(occurrence, 120)] == view.starts_at - timedelta(hours=2)
    others = await service.upcoming(GUILD, chapter_id=chapter_id)
    assert others[1].location == "Library, 2nd floor"
    # a series edit reaches every meeting, except what was set on one meeting itself
    await service.edit_series(
        GUILD,
        others[1].id,
        actor_id=FOUNDER,
        actor_is_organizer=False,
        title="Weekly circle",
        location="Hall",
    )
    after = await service.upcoming(GUILD, chapter_id=chapter_id)
    assert {o.title for o in after} == {"Weekly circle"}
    assert [o.location for o in after] == ["Cafe", "Hall", "Hall", "Hall"]


async def test_cancel_tells_who_answered_and_stops_reminders(
    service: MeetingService, chapter_id: int, sessions: async_sessionmaker[AsyncSession]
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="weekly", start="Dec 8 7pm")
    await service.rsvp(GUILD, occurrence, 2, RsvpAnswer.GOING)
    await service.rsvp(GUILD, occurrence, 3, RsvpAnswer.CANT)
    cancelled = await service.cancel(
        GUILD, occurrence, actor_id=FOUNDER, actor_is_organizer=False, whole_series=False
    )
    assert cancelled.notify_user_ids == (2,)
    timers = await pending_timers(sessions)
    assert reminder_key(occurrence, 120) not in timers
    assert len(await service.upcoming(GUILD, chapter_id=chapter_id)) == 3
    await service.cancel(
        GUILD, occurrence + 1, actor_id=FOUNDER, actor_is_organizer=False, whole_series=True
    )
    assert await service.upcoming(GUILD, chapter_id=chapter_id) == []
    left = await pending_timers(sessions)
    assert not any(k.startswith(("meeting-reminder", "meeting-series")) for k in left)
    # what is left takes the mirrored Discord events down, now
    assert {k for k in left if k.startswith("meeting")} == {
        f"meeting-event:{occurrence + n}" for n in range(4)
    }


async def test_attendance_writes_the_chapter_meeting_row(
    service: MeetingService,
    chapter_id: int,
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    with pytest.raises(InvalidInput, match="not started"):
        await service.record_attendance(
            GUILD, occurrence, [1, 2], actor_id=FOUNDER, actor_is_organizer=False
        )
    clock.set(datetime(2026, 12, 9, 0, 30, tzinfo=UTC))
    with pytest.raises(NotAllowed):
        await service.record_attendance(
            GUILD, occurrence, [1, 2], actor_id=4, actor_is_organizer=False
        )
    result = await service.record_attendance(
        GUILD, occurrence, [1, 2, 2], actor_id=FOUNDER, actor_is_organizer=False, notes="Good"
    )
    assert result.first_record and result.attendee_ids == (1, 2)
    again = await service.record_attendance(
        GUILD, occurrence, [1, 2, 3], actor_id=FOUNDER, actor_is_organizer=False
    )
    assert not again.first_record
    assert again.occurrence.notes == "Good" and again.occurrence.attendee_count == 3
    async with sessions() as session:
        rows = list(await session.scalars(select(ChapterMeeting)))
    assert [(r.chapter_id, r.held_at, r.attendee_count) for r in rows] == [
        (chapter_id, datetime(2026, 12, 9, 0, 0, tzinfo=UTC), 3)
    ]
    _, last = await service.next_and_last(GUILD, chapter_id)
    assert last is not None and last.id == occurrence


async def test_first_attendance_rotates_roles_when_the_chapter_opted_in(
    service: MeetingService, chapters: ChapterService, chapter_id: int, clock: FakeClock
) -> None:
    await chapters.set_rotation(GUILD, chapter_id, True, actor_id=FOUNDER, actor_is_organizer=False)
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    clock.set(datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    result = await service.record_attendance(
        GUILD, occurrence, [1, 2], actor_id=FOUNDER, actor_is_organizer=False
    )
    assert result.rotation is not None
    assert {h.role: h.user_id for h in result.rotation.holders} == {
        "facilitator": 1,
        "note-taker": 2,
    }
    again = await service.record_attendance(
        GUILD, occurrence, [1, 2, 3], actor_id=FOUNDER, actor_is_organizer=False
    )
    assert again.rotation is None  # once per meeting, not per correction
    details = await chapters.details(GUILD, chapter_id)
    meetings = [r for r in details.criteria.results if r.key == "meetings"]
    assert meetings and meetings[0].met
    assert details.criteria.last_meeting_at == datetime(2026, 12, 9, 0, 0, tzinfo=UTC)


async def test_policy_rearms_upcoming_reminders(
    service: MeetingService, chapter_id: int, sessions: async_sessionmaker[AsyncSession]
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    with pytest.raises(InvalidInput, match="at least 5 minutes"):
        await service.set_policy(
            GUILD, chapter_id, "1d, 1m", actor_id=FOUNDER, actor_is_organizer=False
        )
    leads = await service.set_policy(
        GUILD, chapter_id, "1d, 30m", actor_id=FOUNDER, actor_is_organizer=False
    )
    assert leads == (timedelta(days=1), timedelta(minutes=30))
    timers = await pending_timers(sessions)
    assert reminder_key(occurrence, 120) not in timers
    assert reminder_key(occurrence, 3 * 24 * 60) not in timers
    assert reminder_key(occurrence, 30) in timers and reminder_key(occurrence, 24 * 60) in timers


async def test_reminder_ledger_is_exactly_once_and_honours_preferences(
    service: MeetingService,
    chapter_id: int,
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    starts = datetime(2026, 12, 9, 0, 0, tzinfo=UTC)
    await service.rsvp(GUILD, occurrence, 2, RsvpAnswer.CANT)
    await service.set_preferences(GUILD, 3, enabled=False)
    await service.set_preferences(GUILD, 4, leads="3d")
    await service.set_preferences(GUILD, 5, quiet_hours="18:00-19:30", timezone="America/New_York")
    clock.set(starts - timedelta(hours=2))  # 17:00 New York: member 5 is not in quiet hours yet
    batch = await service.prepare_reminders(occurrence, 120)
    assert [d.user_id for d in batch.due] == [1, 5]
    again = await service.prepare_reminders(occurrence, 120)  # a retried timer run
    assert [d.user_id for d in again.due] == [1, 5]  # the same rows, not new ones
    async with sessions.begin() as session:  # member 5 is known not to accept DMs
        session.add(DirectMessageState(user_id=5, closed_at=clock.now(), updated_at=clock.now()))
    queued = await service.prepare_reminders(occurrence, 120, renderer=Renderer())
    assert [d.user_id for d in queued.due] == [1] and queued.in_channel == (5,)
    for _ in range(2):  # runs after the outbox has the rows add nothing
        rerun = await service.prepare_reminders(occurrence, 120, renderer=Renderer())
        assert rerun.due == () and rerun.in_channel == ()
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ReminderDelivery))
        effects = list(await session.scalars(select(Effect).order_by(Effect.id)))
    assert count == 2
    assert [(e.kind.value, e.dedupe_key) for e in effects] == [
        ("dm", "reminder:1"),
        ("channel_post", "reminder-channel:1:2:00:00"),
    ]
    assert [status for _, _, status, _ in await service.ledger(occurrence)] == ["queued"] * 2
    async with sessions.begin() as session:
        session.add(
            ReminderDelivery(
                occurrence_id=occurrence,
                lead_minutes=120,
                user_id=1,
                due_at=clock.now(),
                status=ReminderStatus.PENDING,
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_quiet_hours_defer_or_skip(
    service: MeetingService,
    chapter_id: int,
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        session.add(
            MemberProfile(
                guild_id=GUILD,
                user_id=5,
                timezone="Europe/Berlin",
                joined_at=START,
                updated_at=START,
            )
        )
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    await service.set_preferences(GUILD, 5, quiet_hours="22:00-08:00")  # Berlin, from /profile
    await service.set_preferences(GUILD, 4, quiet_hours="22:00-23:30", timezone="Europe/Berlin")
    clock.set(datetime(2026, 12, 5, 23, 0, tzinfo=UTC))  # 3 days ahead; 00:00 in Berlin
    batch = await service.prepare_reminders(occurrence, 3 * 24 * 60)
    assert [d.user_id for d in batch.due] == [1, 2, 3, 4]
    assert batch.deferred == 1
    deferred_key = reminder_key(occurrence, 3 * 24 * 60, datetime(2026, 12, 6, 7, tzinfo=UTC))
    assert deferred_key in await pending_timers(sessions)
    clock.set(datetime(2026, 12, 6, 7, 0, tzinfo=UTC))
    later = await service.prepare_reminders(occurrence, 3 * 24 * 60)
    assert [d.user_id for d in later.due] == [1, 2, 3, 4, 5]  # 1-4 unsent yet, 5 now due
    with pytest.raises(InvalidInput):
        await service.set_preferences(GUILD, 9, quiet_hours="25:00-07:00")


async def test_late_run_sends_when_useful_and_skips_meetings_over(
    service: MeetingService, chapter_id: int, clock: FakeClock
) -> None:
    occurrence = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm")
    clock.set(datetime(2026, 12, 8, 23, 30, tzinfo=UTC))  # bot was down; meeting in 30 min
    batch = await service.prepare_reminders(occurrence, 120, late=True)
    assert len(batch.due) == 5 and all(d.late for d in batch.due)
    clock.set(datetime(2026, 12, 9, 0, 30, tzinfo=UTC))  # the meeting has started
    over = await service.prepare_reminders(occurrence, 3 * 24 * 60, late=True)
    assert over.due == () and over.skipped_meeting_over == 5
    ledger = await service.ledger(occurrence)
    assert {(lead, status) for lead, _, status, _ in ledger} == {
        (4320, "skipped"),
        (120, "pending"),
    }


async def test_reminders_skipped_over_downtime_are_summarised_once_per_guild(
    service: MeetingService,
    chapter_id: int,
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await schedule(service, chapter_id, repeat="once", start="Dec 8 7pm", title="Dawn")
    second = await schedule(service, chapter_id, repeat="once", start="Dec 8 8pm", title="Dusk")
    clock.set(datetime(2026, 12, 9, 1, 30, tzinfo=UTC))  # both have started
    await service.prepare_reminders(first, 120, late=True)
    await service.prepare_reminders(first, 3 * 24 * 60, late=True)
    await service.prepare_reminders(second, 120, late=True)
    # one keyed timer for the guild, moved to a short delay after the last skipped run
    timers = await pending_timers(sessions)
    assert timers[skip_summary_key(GUILD)] == clock.now() + service.skip_summary_delay
    summary = await service.summarise_skipped(GUILD)
    assert [(s.title, s.reminders) for s in summary] == [("Dawn", 10), ("Dusk", 5)]
    assert await service.summarise_skipped(GUILD) == []  # never told twice
    await service.prepare_reminders(second, 3 * 24 * 60, late=True)
    assert [(s.title, s.reminders) for s in await service.summarise_skipped(GUILD)] == [("Dusk", 5)]


async def test_export_is_a_valid_calendar(service: MeetingService, chapter_id: int) -> None:
    await schedule(service, chapter_id, repeat="weekly", start="Dec 8 7pm")
    data = await service.export_ics(GUILD, chapter_id=chapter_id)
    calendar = icalendar.Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 4  # the window: 8, 15, 22 and 29 Dec
    first = events[0]
    assert first.decoded("dtstart") == datetime(2026, 12, 9, 0, 0, tzinfo=UTC)
    assert str(first["location"]) == "Library, 2nd floor"


async def test_the_next_meeting_moves_on_as_time_passes_without_any_write(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    timers: TimerService,
    chapters: ChapterService,
    chapter_id: int,
) -> None:
    """/chapter info's next meeting is cached; the clock alone must still move it on, past the
    meetings the cache kept, and agree with the list of upcoming meetings."""
    effects = EffectService(sessions, clock)
    service = MeetingService(sessions, clock, timers, chapters, effects, window=timedelta(days=70))
    await schedule(service, chapter_id, repeat="weekly", start="Dec 8 7pm", duration="1h")
    seen = []
    for _ in range(8):  # more weeks than the cached timeline keeps
        upcoming, _ = await service.next_and_last(GUILD, chapter_id)
        listed = await service.upcoming(GUILD, chapter_id=chapter_id, limit=1)
        assert upcoming is not None and [upcoming.id] == [v.id for v in listed]
        seen.append(upcoming.starts_at)
        clock.set(upcoming.ends_at + timedelta(minutes=1))
    assert [b - a for a, b in itertools.pairwise(seen)] == [timedelta(weeks=1)] * 7
