"""Chapter meetings: series and their occurrences, RSVPs, attendance and the reminder ledger.

Occurrences exist as rows only within a rolling window (``window``) ahead of now; a keyed timer
per series extends it. Each occurrence has one durable timer per reminder lead. When a reminder
timer fires, ``prepare_reminders`` writes one ledger row per (occurrence, lead, member) under a
unique constraint, so a retried or doubled run can never make a second reminder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services import recurrence
from bot.services.chapters import ChapterService, RotationResult, Transition
from bot.services.effects import DM_CLOSED_RECHECK, EffectRequest, EffectService
from bot.services.read_cache import ReadCache
from bot.services.recurrence import SeriesPlan
from bot.services.timers import TimerService
from db.models import (
    Chapter,
    ChapterMeeting,
    ChapterMember,
    ChapterRoleAssignment,
    DirectMessageState,
    Effect,
    EffectStatus,
    MeetingAttendance,
    MeetingOccurrence,
    MeetingRsvp,
    MeetingSeries,
    MemberProfile,
    ReminderDelivery,
    ReminderPolicy,
    ReminderPreference,
    ReminderStatus,
    Timer,
)
from db.models import RsvpAnswer as RsvpAnswer  # part of this service's interface
from db.session import Sessions

TITLE_MAX_CHARS = 100
LOCATION_MAX_CHARS = 300
NOTES_MAX_CHARS = 1000
REMINDER_EVENT = "meeting_reminder"
EXTEND_EVENT = "meeting_series_extend"
EVENT_SYNC_EVENT = "meeting_event_sync"
SKIP_SUMMARY_EVENT = "meeting_skip_summary"
#: how long after the last skipped reminder run the guild's one summary is posted, so a
#: catch-up after downtime is told to organizers in one message
DEFAULT_SKIP_SUMMARY_DELAY = timedelta(seconds=60)
SKIPPED_STARTED = "the meeting had started"
#: occurrences this close are mirrored as Discord scheduled events
EVENT_WINDOW = timedelta(days=14)
DEFAULT_WINDOW = timedelta(days=35)
_TICK = timedelta(seconds=1)


def event_key(occurrence_id: int) -> str:
    return f"meeting-event:{occurrence_id}"


def reminder_key(occurrence_id: int, lead_minutes: int, due: datetime | None = None) -> str:
    base = f"meeting-reminder:{occurrence_id}:{lead_minutes}"
    return base if due is None else f"{base}:{int(due.timestamp())}"


def skip_summary_key(guild_id: int) -> str:
    return f"meeting:skip-summary:{guild_id}"


def reminder_dedupe_key(delivery_id: int) -> str:
    """The outbox key of a ledger row's DM: one effect per row, whatever retries happen (the
    outbox then sends it with its own deterministic nonce and ``enforce_nonce``)."""
    return f"reminder:{delivery_id}"


def _minutes(leads: Iterable[timedelta]) -> str:
    return ",".join(str(int(lead.total_seconds() // 60)) for lead in leads)


def _leads(text: str | None) -> tuple[timedelta, ...]:
    if not text:
        return ()
    return tuple(timedelta(minutes=int(v)) for v in text.split(","))


def _clean(text: str, *, what: str, limit: int) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidInput(f"{what} can't be empty.")
    if len(cleaned) > limit:
        raise InvalidInput(f"{what} can be at most {limit} characters (got {len(cleaned)}).")
    return cleaned


@dataclass(frozen=True, slots=True)
class RsvpCounts:
    going: int = 0
    maybe: int = 0
    cant: int = 0


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    id: int
    series_id: int
    guild_id: int
    chapter_id: int
    chapter_name: str
    channel_id: int | None
    title: str
    location: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    repeat: str
    cancelled: bool
    held: bool
    notes: str | None
    counts: RsvpCounts
    attendee_count: int
    event_id: int | None


@dataclass(frozen=True, slots=True)
class SchedulePreview:
    """What ``/meeting schedule`` shows before Confirm: nothing is saved yet."""

    chapter_id: int
    chapter_name: str
    title: str
    location: str
    plan: SeriesPlan


@dataclass(frozen=True, slots=True)
class ScheduledSeries:
    series_id: int
    chapter_name: str
    repeat: str
    upcoming: tuple[OccurrenceView, ...]


@dataclass(frozen=True, slots=True)
class Cancellation:
    occurrences: tuple[OccurrenceView, ...]
    # members who answered Going or Maybe to a cancelled occurrence: they are told
    notify_user_ids: tuple[int, ...]
    event_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AttendanceResult:
    occurrence: OccurrenceView
    attendee_ids: tuple[int, ...]
    first_record: bool
    rotation: RotationResult | None = None
    # status changes the held meeting caused (e.g. the meeting criterion is now met)
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class ReminderPrefsView:
    enabled: bool
    leads: tuple[timedelta, ...] | None  # None = every lead the chapter sends
    quiet_start: time | None
    quiet_end: time | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class DueReminder:
    delivery_id: int
    user_id: int
    dedupe_key: str
    late: bool


class ReminderRenderer(Protocol):
    """Builds the outbox requests of a reminder (the cog knows how a Discord message looks)."""

    def direct(
        self, occurrence: OccurrenceView, due: DueReminder, lead: timedelta
    ) -> EffectRequest:
        """The DM for one member (with its channel fallback for closed DMs)."""
        ...

    def channel(
        self, occurrence: OccurrenceView, user_ids: Sequence[int], lead: timedelta
    ) -> EffectRequest | None:
        """One combined channel message for members known not to accept DMs."""
        ...


@dataclass(frozen=True, slots=True)
class ReminderBatch:
    """What a reminder run found: rows to send now, and what it skipped (for one summary)."""

    occurrence: OccurrenceView | None
    lead: timedelta
    due: tuple[DueReminder, ...]
    deferred: int
    skipped_meeting_over: int
    # members known not to accept DMs, told in one channel message instead
    in_channel: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedMeeting:
    """One meeting whose reminders were skipped because it had started before they were sent."""

    title: str
    chapter_name: str
    starts_at: datetime
    reminders: int


@dataclass(frozen=True, slots=True)
class _Timeline:
    """A chapter's next meetings and last held one, as read at ``read_at``."""

    read_at: datetime
    upcoming: tuple[OccurrenceView, ...]  #: the first ones by start not over at ``read_at``
    complete: bool  #: ``upcoming`` holds every meeting not over at ``read_at``
    held: OccurrenceView | None


UPCOMING_KEPT = 4  #: next meetings a cached timeline holds


class MeetingService:
    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        timers: TimerService,
        chapters: ChapterService,
        effects: EffectService,
        *,
        window: timedelta = DEFAULT_WINDOW,
        skip_summary_delay: timedelta = DEFAULT_SKIP_SUMMARY_DELAY,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timers = timers
        self._chapters = chapters
        self._effects = effects
        self.window = window
        self.skip_summary_delay = skip_summary_delay
        self._timelines: ReadCache[tuple[int, int], _Timeline] = ReadCache(
            sessions, MeetingOccurrence, MeetingSeries, MeetingRsvp, MeetingAttendance, Chapter
        )

    # ------------------------------------------------------------------ scheduling

    async def preview(
        self,
        guild_id: int,
        chapter_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
        title: str,
        start: str,
        duration: str,
        location: str,
        repeat: str,
        until: str | None = None,
    ) -> SchedulePreview:
        """Check everything ``/meeting schedule`` was given; saves nothing."""
        clean_title = _clean(title, what="The title", limit=TITLE_MAX_CHARS)
        clean_location = _clean(location, what="The location", limit=LOCATION_MAX_CHARS)
        async with self._sessions.read() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
        plan = recurrence.plan_series(
            start=start,
            timezone=chapter.timezone,
            duration=duration,
            repeat=repeat,
            until=until,
            now=self._clock.now(),
        )
        return SchedulePreview(chapter.id, chapter.name, clean_title, clean_location, plan)

    async def schedule(
        self, guild_id: int, preview: SchedulePreview, *, actor_id: int, actor_is_organizer: bool
    ) -> ScheduledSeries:
        """Save a confirmed preview: the series, its first occurrences and their timers."""
        now = self._clock.now()
        plan = preview.plan
        if plan.first_starts[0] <= now:
            raise InvalidInput("The first meeting has started meanwhile; schedule it again.")
        timers: list[Timer] = []
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, preview.chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            series = MeetingSeries(
                guild_id=guild_id,
                chapter_id=chapter.id,
                title=preview.title,
                location=preview.location,
                duration_minutes=int(plan.duration.total_seconds() // 60),
                timezone=plan.timezone,
                local_start=plan.local_start.isoformat(timespec="minutes"),
                until_local=(
                    plan.until_local.isoformat(timespec="minutes") if plan.until_local else None
                ),
                rrule=plan.repeat.rrule,
                materialised_until=now,
                created_by=actor_id,
                created_at=now,
            )
            session.add(series)
            await session.flush()
            await self._materialise(session, series, now, timers)
            await session.flush()
            upcoming = await self._views(
                session, await self._occurrence_rows(session, series_id=series.id, limit=5)
            )
        self._timers.announce(timers)
        return ScheduledSeries(series.id, chapter.name, recurrence.describe(series.rrule), upcoming)

    async def extend(self, series_id: int) -> int:
        """The series timer: materialise occurrences up to now + window; returns how many."""
        timers: list[Timer] = []
        async with self._sessions.write() as session:
            series = await session.get(MeetingSeries, series_id)
            if series is None or series.cancelled_at is not None:
                return 0
            made = await self._materialise(session, series, self._clock.now(), timers)
        self._timers.announce(timers)
        return made

    async def _materialise(
        self, session: AsyncSession, series: MeetingSeries, now: datetime, timers: list[Timer]
    ) -> int:
        tz = ZoneInfo(series.timezone)
        ahead = recurrence.occurrences(
            datetime.fromisoformat(series.local_start),
            series.rrule,
            tz,
            after=max(now, series.materialised_until),
            until_local=(
                datetime.fromisoformat(series.until_local) if series.until_local else None
            ),
        )
        # everything within the window, and always the next meeting however far it is
        horizon = now + self.window
        starts = [start for start in ahead if start < horizon] or ahead[:1]
        remaining = ahead[len(starts) :]
        existing = set(
            await session.scalars(
                select(MeetingOccurrence.slot).where(MeetingOccurrence.series_id == series.id)
            )
        )
        leads = await self._policy(session, series.chapter_id)
        made = 0
        for start in starts:
            if start in existing:
                continue
            occurrence = MeetingOccurrence(
                series_id=series.id,
                chapter_id=series.chapter_id,
                slot=start,
                starts_at=start,
                ends_at=start + timedelta(minutes=series.duration_minutes),
                edited=False,
            )
            session.add(occurrence)
            await session.flush()
            timers.extend(await self._arm_reminders(session, occurrence, leads, now))
            timers.append(await self._arm_event(session, occurrence, now))
            made += 1
        if starts:
            series.materialised_until = max(series.materialised_until, starts[-1] + _TICK)
        key = f"meeting-series:{series.id}"
        if remaining:
            # wake when the next meeting is half a window away, well before its first reminder
            wake = max(remaining[0] - self.window / 2, now + timedelta(minutes=1))
            timers.append(
                await self._timers.put(
                    session, wake, EXTEND_EVENT, {"series_id": series.id}, key=key
                )
            )
        else:
            await self._timers.cancel_keys(session, [key])
        return made

    async def _arm_reminders(
        self,
        session: AsyncSession,
        occurrence: MeetingOccurrence,
        leads: Sequence[timedelta],
        now: datetime,
    ) -> list[Timer]:
        armed = []
        for lead in leads:
            due = occurrence.starts_at - lead
            key = reminder_key(occurrence.id, int(lead.total_seconds() // 60))
            if due <= now:
                await self._timers.cancel_keys(session, [key])
                continue
            payload = {
                "occurrence_id": occurrence.id,
                "lead_minutes": int(lead.total_seconds() // 60),
            }
            armed.append(await self._timers.put(session, due, REMINDER_EVENT, payload, key=key))
        return armed

    async def _arm_event(
        self, session: AsyncSession, occurrence: MeetingOccurrence, now: datetime
    ) -> Timer:
        """Mirror the occurrence as a Discord scheduled event once it is within EVENT_WINDOW
        (now, for a change to one already mirrored or a cancellation)."""
        when = max(now, occurrence.starts_at - EVENT_WINDOW)
        if occurrence.cancelled_at is not None or occurrence.event_id is not None:
            when = now
        payload = {"occurrence_id": occurrence.id}
        return await self._timers.put(
            session, when, EVENT_SYNC_EVENT, payload, key=event_key(occurrence.id)
        )

    # ------------------------------------------------------------------ reading

    async def upcoming(
        self,
        guild_id: int,
        *,
        chapter_id: int | None = None,
        user_id: int | None = None,
        limit: int = 10,
    ) -> list[OccurrenceView]:
        """Upcoming, not cancelled: one chapter's, or those of every chapter ``user_id`` is in."""
        now = self._clock.now()
        async with self._sessions.read() as session:
            query = (
                select(MeetingOccurrence)
                .join(Chapter, Chapter.id == MeetingOccurrence.chapter_id)
                .where(
                    Chapter.guild_id == guild_id,
                    Chapter.active.is_(True),
                    MeetingOccurrence.ends_at > now,
                    MeetingOccurrence.cancelled_at.is_(None),
                )
                .order_by(MeetingOccurrence.starts_at, MeetingOccurrence.id)
                .limit(limit)
            )
            if chapter_id is not None:
                query = query.where(MeetingOccurrence.chapter_id == chapter_id)
            if user_id is not None:
                query = query.join(
                    ChapterMember, ChapterMember.chapter_id == MeetingOccurrence.chapter_id
                ).where(ChapterMember.user_id == user_id)
            return list(await self._views(session, list(await session.scalars(query))))

    async def get(self, guild_id: int | None, occurrence_id: int) -> OccurrenceView:
        async with self._sessions.read() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            return (await self._views(session, [row]))[0]

    async def next_and_last(
        self, guild_id: int, chapter_id: int
    ) -> tuple[OccurrenceView | None, OccurrenceView | None]:
        """For ``/chapter info``: the next meeting, and the last one held (with its notes).

        Answered from a cached timeline (kept until a meeting, RSVP or attendance changes)
        while it still covers the clock's current time."""
        now = self._clock.now()
        key = (guild_id, chapter_id)
        for _ in range(2):
            timeline = await self._timelines.get(key, lambda: self._timeline(key, now))
            upcoming = next((v for v in timeline.upcoming if v.ends_at > now), None)
            if timeline.read_at <= now and (upcoming is not None or timeline.complete):
                return upcoming, timeline.held
            self._timelines.discard(key)  # read before now, or every kept meeting is over
        timeline = await self._timeline(key, now)
        return (timeline.upcoming[0] if timeline.upcoming else None), timeline.held

    async def _timeline(self, key: tuple[int, int], now: datetime) -> _Timeline:
        guild_id, chapter_id = key
        async with self._sessions.read() as session:
            upcoming = list(
                await session.scalars(
                    select(MeetingOccurrence)
                    .join(Chapter, Chapter.id == MeetingOccurrence.chapter_id)
                    .where(
                        Chapter.guild_id == guild_id,
                        MeetingOccurrence.chapter_id == chapter_id,
                        MeetingOccurrence.ends_at > now,
                        MeetingOccurrence.cancelled_at.is_(None),
                    )
                    .order_by(MeetingOccurrence.starts_at)
                    .limit(UPCOMING_KEPT)
                )
            )
            held = await session.scalar(
                select(MeetingOccurrence)
                .join(Chapter, Chapter.id == MeetingOccurrence.chapter_id)
                .where(
                    Chapter.guild_id == guild_id,
                    MeetingOccurrence.chapter_id == chapter_id,
                    MeetingOccurrence.held_at.is_not(None),
                )
                .order_by(MeetingOccurrence.starts_at.desc())
                .limit(1)
            )
            rows = upcoming + ([held] if held is not None else [])
            views = {v.id: v for v in await self._views(session, rows)}
            return _Timeline(
                read_at=now,
                upcoming=tuple(views[r.id] for r in upcoming),
                complete=len(upcoming) < UPCOMING_KEPT,
                held=views[held.id] if held is not None else None,
            )

    async def export_ics(
        self, guild_id: int, *, chapter_id: int | None = None, occurrence_id: int | None = None
    ) -> bytes:
        """An iCalendar file of one occurrence, or a chapter's upcoming ones (icalendar)."""
        if occurrence_id is not None:
            views = [await self.get(guild_id, occurrence_id)]
        else:
            views = await self.upcoming(guild_id, chapter_id=chapter_id, limit=100)
        return self.calendar(views)

    def calendar(self, views: Sequence[OccurrenceView]) -> bytes:
        """An iCalendar file of these occurrences (also attached to each reminder DM)."""
        import icalendar  # ~70 ms and ~3 MB to import: only when a calendar is made

        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//chapterbot//meetings//EN")
        calendar.add("version", "2.0")
        for view in views:
            event = icalendar.Event()
            event.add("uid", f"meeting-{view.id}@chapterbot")
            event.add("summary", f"{view.title} ({view.chapter_name})")
            event.add("dtstart", view.starts_at.astimezone(ZoneInfo(view.timezone)))
            event.add("dtend", view.ends_at.astimezone(ZoneInfo(view.timezone)))
            event.add("dtstamp", self._clock.now())
            event.add("location", view.location)
            if view.cancelled:
                event.add("status", "CANCELLED")
            calendar.add_component(event)
        return bytes(calendar.to_ical())

    # ------------------------------------------------------------------ editing

    async def edit_occurrence(
        self,
        guild_id: int,
        occurrence_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
        title: str | None = None,
        location: str | None = None,
        start: str | None = None,
        duration: str | None = None,
    ) -> OccurrenceView:
        """Change one meeting; the series and the other meetings stay as they are."""
        now = self._clock.now()
        timers: list[Timer] = []
        async with self._sessions.write() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            chapter = await self._chapter(session, guild_id, row.chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            if row.cancelled_at is not None or row.ends_at <= now:
                raise InvalidInput("That meeting is cancelled or over; it can't be edited.")
            if title is not None:
                row.title = _clean(title, what="The title", limit=TITLE_MAX_CHARS)
            if location is not None:
                row.location = _clean(location, what="The location", limit=LOCATION_MAX_CHARS)
            length = row.ends_at - row.starts_at
            if duration is not None:
                length = _meeting_length(duration)
            if start is not None:
                tz = recurrence.zone(chapter.timezone)
                local = recurrence.parse_local_start(start, tz, now)
                moved = recurrence.to_utc(local, tz)
                if moved <= now:
                    raise InvalidInput("The new start is in the past; give a future time.")
                row.starts_at = moved
            row.ends_at = row.starts_at + length
            row.edited = True
            timers = await self._arm_reminders(
                session, row, await self._policy(session, row.chapter_id), now
            )
            timers.append(await self._arm_event(session, row, now))
            await session.flush()
            view = (await self._views(session, [row]))[0]
        self._timers.announce(timers)
        return view

    async def edit_series(
        self,
        guild_id: int,
        occurrence_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
        title: str | None = None,
        location: str | None = None,
        duration: str | None = None,
    ) -> list[OccurrenceView]:
        """Change the series of this meeting, and every upcoming meeting not edited on its own."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            chapter = await self._chapter(session, guild_id, row.chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            series = await session.get(MeetingSeries, row.series_id)
            assert series is not None
            if series.cancelled_at is not None:
                raise InvalidInput("That series is cancelled.")
            if title is not None:
                series.title = _clean(title, what="The title", limit=TITLE_MAX_CHARS)
            if location is not None:
                series.location = _clean(location, what="The location", limit=LOCATION_MAX_CHARS)
            if duration is not None:
                series.duration_minutes = int(_meeting_length(duration).total_seconds() // 60)
            rows = list(
                await session.scalars(
                    select(MeetingOccurrence).where(
                        MeetingOccurrence.series_id == series.id,
                        MeetingOccurrence.starts_at > now,
                        MeetingOccurrence.cancelled_at.is_(None),
                    )
                )
            )
            timers: list[Timer] = []
            for occurrence in rows:
                # title and location fall back to the series unless set on the meeting itself
                if not occurrence.edited:
                    occurrence.ends_at = occurrence.starts_at + timedelta(
                        minutes=series.duration_minutes
                    )
                timers.append(await self._arm_event(session, occurrence, now))
            await session.flush()
            views = list(await self._views(session, rows))
        self._timers.announce(timers)
        return views

    async def cancel(
        self,
        guild_id: int,
        occurrence_id: int,
        *,
        actor_id: int,
        actor_is_organizer: bool,
        whole_series: bool,
    ) -> Cancellation:
        """Cancel one meeting or the rest of its series; their reminder timers stop."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            chapter = await self._chapter(session, guild_id, row.chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            if whole_series:
                series = await session.get(MeetingSeries, row.series_id)
                assert series is not None
                series.cancelled_at = now
                await self._timers.cancel_keys(session, [f"meeting-series:{series.id}"])
                rows = list(
                    await session.scalars(
                        select(MeetingOccurrence).where(
                            MeetingOccurrence.series_id == series.id,
                            MeetingOccurrence.ends_at > now,
                            MeetingOccurrence.cancelled_at.is_(None),
                        )
                    )
                )
            else:
                if row.cancelled_at is not None:
                    raise InvalidInput("That meeting is already cancelled.")
                if row.ends_at <= now:
                    raise InvalidInput("That meeting is over; it can't be cancelled.")
                rows = [row]
            policy = await self._policy(session, row.chapter_id)
            keys = [
                reminder_key(r.id, int(lead.total_seconds() // 60)) for r in rows for lead in policy
            ]
            await self._timers.cancel_keys(session, keys)
            timers: list[Timer] = []
            for occurrence in rows:
                occurrence.cancelled_at = now
                timers.append(await self._arm_event(session, occurrence, now))
            ids = [r.id for r in rows]
            notify = sorted(
                set(
                    await session.scalars(
                        select(MeetingRsvp.user_id).where(
                            MeetingRsvp.occurrence_id.in_(ids),
                            MeetingRsvp.answer.in_([RsvpAnswer.GOING, RsvpAnswer.MAYBE]),
                        )
                    )
                )
            )
            await session.flush()
            views = await self._views(session, rows)
        self._timers.announce(timers)
        return Cancellation(
            occurrences=tuple(views),
            notify_user_ids=tuple(notify),
            event_ids=tuple(r.event_id for r in rows if r.event_id is not None),
        )

    async def set_event_id(self, occurrence_id: int, event_id: int | None) -> None:
        """The Discord scheduled event mirroring an occurrence (the cog creates it)."""
        async with self._sessions.write() as session:
            row = await session.get(MeetingOccurrence, occurrence_id)
            if row is not None:
                row.event_id = event_id

    # ------------------------------------------------------------------ RSVP and attendance

    async def rsvp(
        self, guild_id: int | None, occurrence_id: int, user_id: int, answer: RsvpAnswer
    ) -> OccurrenceView:
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            if row.cancelled_at is not None:
                raise InvalidInput("That meeting was cancelled.")
            if row.ends_at <= now:
                raise InvalidInput("That meeting is over.")
            if await session.get(ChapterMember, (row.chapter_id, user_id)) is None:
                raise NotAllowed("Only the chapter's members answer; join with /chapter join.")
            existing = await session.get(MeetingRsvp, (row.id, user_id))
            if existing is None:
                session.add(
                    MeetingRsvp(
                        occurrence_id=row.id, user_id=user_id, answer=answer, updated_at=now
                    )
                )
            else:
                existing.answer = answer
                existing.updated_at = now
            await session.flush()
            return (await self._views(session, [row]))[0]

    async def answers(self, guild_id: int, occurrence_id: int) -> dict[int, RsvpAnswer]:
        async with self._sessions.read() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            rows = await session.scalars(
                select(MeetingRsvp).where(MeetingRsvp.occurrence_id == row.id)
            )
            return {r.user_id: r.answer for r in rows}

    async def check_in_list(self, guild_id: int, occurrence_id: int) -> list[int]:
        """Who to offer in the check-in list: members, those who said Going first."""
        async with self._sessions.read() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            members = list(
                await session.scalars(
                    select(ChapterMember.user_id)
                    .where(ChapterMember.chapter_id == row.chapter_id)
                    .order_by(ChapterMember.joined_at)
                )
            )
            going = set(
                await session.scalars(
                    select(MeetingRsvp.user_id).where(
                        MeetingRsvp.occurrence_id == row.id,
                        MeetingRsvp.answer == RsvpAnswer.GOING,
                    )
                )
            )
            return sorted(members, key=lambda user: user not in going)

    async def record_attendance(
        self,
        guild_id: int,
        occurrence_id: int,
        attendee_ids: Iterable[int],
        *,
        actor_id: int,
        actor_is_organizer: bool,
        notes: str | None = None,
    ) -> AttendanceResult:
        """Record who came (replacing an earlier record) and write the chapter_meeting row the
        formal-chapter criterion reads. Possible once the meeting has started."""
        now = self._clock.now()
        attendees = sorted(set(attendee_ids))
        if not attendees:
            raise InvalidInput("Pick at least one member who came.")
        clean_notes = (
            _clean(notes, what="Notes", limit=NOTES_MAX_CHARS) if notes and notes.strip() else None
        )
        async with self._sessions.write() as session:
            row = await self._occurrence(session, guild_id, occurrence_id)
            chapter = await self._chapter(session, guild_id, row.chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            if row.cancelled_at is not None:
                raise InvalidInput("That meeting was cancelled; there is no attendance to record.")
            if row.starts_at > now:
                raise InvalidInput(
                    "That meeting has not started yet; record attendance during or after it."
                )
            first = row.held_at is None
            await session.execute(
                delete(MeetingAttendance).where(MeetingAttendance.occurrence_id == row.id)
            )
            for user in attendees:
                session.add(
                    MeetingAttendance(
                        occurrence_id=row.id, user_id=user, recorded_by=actor_id, recorded_at=now
                    )
                )
            if row.chapter_meeting_id is None:
                meeting = ChapterMeeting(
                    chapter_id=row.chapter_id, held_at=row.starts_at, attendee_count=len(attendees)
                )
                session.add(meeting)
                await session.flush()
                row.chapter_meeting_id = meeting.id
            else:
                meeting_row = await session.get(ChapterMeeting, row.chapter_meeting_id)
                assert meeting_row is not None
                meeting_row.attendee_count = len(attendees)
            row.held_at = row.held_at or now
            if clean_notes is not None:
                row.notes = clean_notes
            await session.flush()
            view = (await self._views(session, [row]))[0]
        if not first:
            return AttendanceResult(view, tuple(attendees), first)
        # once per held meeting: the chapter's role rotation (if it opted in), then re-evaluate
        rotation = await self._chapters.rotate_if_enabled(guild_id, view.chapter_id)
        transitions = list(rotation.transitions) if rotation else []
        if rotation is None:
            transition = await self._chapters.evaluate(guild_id, view.chapter_id)
            transitions += [transition] if transition else []
        return AttendanceResult(view, tuple(attendees), first, rotation, tuple(transitions))

    # ------------------------------------------------------------------ reminder policy

    async def policy(self, chapter_id: int) -> tuple[timedelta, ...]:
        async with self._sessions.read() as session:
            return await self._policy(session, chapter_id)

    async def _policy(self, session: AsyncSession, chapter_id: int) -> tuple[timedelta, ...]:
        row = await session.get(ReminderPolicy, chapter_id)
        return recurrence.DEFAULT_LEADS if row is None else _leads(row.leads_minutes)

    async def set_policy(
        self,
        guild_id: int,
        chapter_id: int,
        leads: str,
        *,
        actor_id: int,
        actor_is_organizer: bool,
    ) -> tuple[timedelta, ...]:
        """Set a chapter's reminder leads and re-arm the timers of its upcoming meetings."""
        parsed = recurrence.parse_leads(leads)
        now = self._clock.now()
        timers: list[Timer] = []
        async with self._sessions.write() as session:
            chapter = await self._chapter(session, guild_id, chapter_id)
            await self._require_steward(session, chapter, actor_id, actor_is_organizer)
            old = await self._policy(session, chapter.id)
            row = await session.get(ReminderPolicy, chapter.id)
            if row is None:
                row = ReminderPolicy(chapter_id=chapter.id)
                session.add(row)
            row.leads_minutes = _minutes(parsed)
            row.updated_by = actor_id
            row.updated_at = now
            upcoming = list(
                await session.scalars(
                    select(MeetingOccurrence).where(
                        MeetingOccurrence.chapter_id == chapter.id,
                        MeetingOccurrence.starts_at > now,
                        MeetingOccurrence.cancelled_at.is_(None),
                    )
                )
            )
            dropped = [lead for lead in old if lead not in parsed]
            await self._timers.cancel_keys(
                session,
                [
                    reminder_key(o.id, int(d.total_seconds() // 60))
                    for o in upcoming
                    for d in dropped
                ],
            )
            for occurrence in upcoming:
                timers.extend(await self._arm_reminders(session, occurrence, parsed, now))
        self._timers.announce(timers)
        return parsed

    # ------------------------------------------------------------------ member preferences

    async def preferences(self, guild_id: int, user_id: int) -> ReminderPrefsView:
        async with self._sessions.read() as session:
            return _prefs_view(await session.get(ReminderPreference, (guild_id, user_id)))

    async def set_preferences(
        self,
        guild_id: int,
        user_id: int,
        *,
        enabled: bool | None = None,
        leads: str | None = None,
        quiet_hours: str | None = None,
        timezone: str | None = None,
    ) -> ReminderPrefsView:
        """``leads``: ``all`` or durations; ``quiet_hours``: ``22:00-07:00`` or ``off``."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await session.get(ReminderPreference, (guild_id, user_id))
            if row is None:
                row = ReminderPreference(
                    guild_id=guild_id, user_id=user_id, enabled=True, updated_at=now
                )
                session.add(row)
            if enabled is not None:
                row.enabled = enabled
            if leads is not None:
                row.leads_minutes = (
                    None
                    if leads.strip().lower() in {"all", "every", ""}
                    else _minutes(recurrence.parse_leads(leads))
                )
            if quiet_hours is not None:
                row.quiet_start, row.quiet_end = _parse_quiet(quiet_hours)
            if timezone is not None:
                row.timezone = recurrence.zone(timezone.strip()).key
            if row.quiet_start is not None and row.timezone is None:
                profile_zone = await session.scalar(
                    select(MemberProfile.timezone).where(
                        MemberProfile.guild_id == guild_id, MemberProfile.user_id == user_id
                    )
                )
                if profile_zone is None:
                    raise InvalidInput(
                        "Quiet hours need your timezone: add `timezone:` (e.g. `Europe/Berlin`) "
                        "or set your city with /profile."
                    )
                row.timezone = profile_zone
            row.updated_at = now
            return _prefs_view(row)

    # ------------------------------------------------------------------ reminders

    async def prepare_reminders(
        self,
        occurrence_id: int,
        lead_minutes: int,
        *,
        late: bool = False,
        renderer: ReminderRenderer | None = None,
    ) -> ReminderBatch:
        """One reminder run for (occurrence, lead): write missing ledger rows and return the ones
        due now. A member in quiet hours gets a row due when they end (a timer wakes for it), or
        skipped if the meeting starts first. Meetings already started are skipped, never sent."""
        now = self._clock.now()
        lead = timedelta(minutes=lead_minutes)
        timers: list[Timer] = []
        async with self._sessions.write() as session:
            row = await session.get(MeetingOccurrence, occurrence_id)
            chapter = await session.get(Chapter, row.chapter_id) if row else None
            if row is None or chapter is None or not chapter.active or row.cancelled_at:
                return ReminderBatch(None, lead, (), 0, 0)
            if lead not in await self._policy(session, row.chapter_id):
                return ReminderBatch(None, lead, (), 0, 0)
            existing = {
                d.user_id: d
                for d in await session.scalars(
                    select(ReminderDelivery).where(
                        ReminderDelivery.occurrence_id == row.id,
                        ReminderDelivery.lead_minutes == lead_minutes,
                    )
                )
            }
            for user_id, due_at, reason in await self._recipients(session, row, lead, now):
                if user_id in existing:
                    continue
                delivery = ReminderDelivery(
                    occurrence_id=row.id,
                    lead_minutes=lead_minutes,
                    user_id=user_id,
                    due_at=due_at,
                    status=ReminderStatus.SKIPPED if reason else ReminderStatus.PENDING,
                    reason=reason,
                    late=False,
                    created_at=now,
                )
                session.add(delivery)
                existing[user_id] = delivery
                if reason is None and due_at > now:
                    payload = {"occurrence_id": row.id, "lead_minutes": lead_minutes}
                    key = reminder_key(row.id, lead_minutes, due_at)
                    timers.append(
                        await self._timers.put(session, due_at, REMINDER_EVENT, payload, key=key)
                    )
            pending = [
                d
                for d in existing.values()
                if d.status == ReminderStatus.PENDING and d.due_at <= now
            ]
            over = 0
            if row.starts_at <= now:
                for delivery in pending:
                    delivery.status = ReminderStatus.SKIPPED
                    delivery.reason = SKIPPED_STARTED
                over, pending = len(pending), []
                if over:
                    # one summary per guild: every skipped run moves it a little later
                    timers.append(
                        await self._timers.put(
                            session,
                            now + self.skip_summary_delay,
                            SKIP_SUMMARY_EVENT,
                            {"guild_id": chapter.guild_id},
                            key=skip_summary_key(chapter.guild_id),
                        )
                    )
            elif late:
                for delivery in pending:
                    delivery.late = True
            deferred = sum(
                1
                for d in existing.values()
                if d.status == ReminderStatus.PENDING and d.due_at > now
            )
            await session.flush()
            view = (await self._views(session, [row]))[0]
            due = tuple(
                DueReminder(d.id, d.user_id, reminder_dedupe_key(d.id), d.late)
                for d in sorted(pending, key=lambda d: d.user_id)
            )
            in_channel: tuple[int, ...] = ()
            if renderer is not None and due:
                # the outbox rows commit with the ledger rows: both or neither
                closed = set(
                    await session.scalars(
                        select(DirectMessageState.user_id).where(
                            DirectMessageState.user_id.in_([d.user_id for d in due]),
                            DirectMessageState.closed_at > now - DM_CLOSED_RECHECK,
                        )
                    )
                )
                requests = [renderer.direct(view, d, lead) for d in due if d.user_id not in closed]
                in_channel = tuple(d.user_id for d in due if d.user_id in closed)
                combined = renderer.channel(view, in_channel, lead) if in_channel else None
                await self._effects.enqueue(
                    session, *requests, *([combined] if combined is not None else [])
                )
                for delivery in pending:
                    delivery.status = ReminderStatus.QUEUED
                    if delivery.user_id in closed:
                        delivery.reason = "DMs closed: mentioned in the chapter channel"
                due = tuple(d for d in due if d.user_id not in closed)
        self._timers.announce(timers)
        return ReminderBatch(view, lead, due, deferred, over, in_channel)

    async def summarise_skipped(self, guild_id: int) -> list[SkippedMeeting]:
        """Skipped-because-started reminders of a guild not yet told to organizers, by meeting;
        marks them told in the same transaction, so each is summarised once."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            rows = (
                await session.execute(
                    select(ReminderDelivery, MeetingOccurrence, Chapter)
                    .join(MeetingOccurrence, ReminderDelivery.occurrence_id == MeetingOccurrence.id)
                    .join(Chapter, MeetingOccurrence.chapter_id == Chapter.id)
                    .where(
                        Chapter.guild_id == guild_id,
                        ReminderDelivery.status == ReminderStatus.SKIPPED,
                        ReminderDelivery.reason == SKIPPED_STARTED,
                        ReminderDelivery.summarised_at.is_(None),
                    )
                )
            ).all()
            counts: dict[int, int] = {}
            meetings: dict[int, tuple[MeetingOccurrence, Chapter]] = {}
            for delivery, occurrence, chapter in rows:
                delivery.summarised_at = now
                counts[occurrence.id] = counts.get(occurrence.id, 0) + 1
                meetings[occurrence.id] = (occurrence, chapter)
            views = {
                v.id: v for v in await self._views(session, [occ for occ, _ in meetings.values()])
            }
            return [
                SkippedMeeting(
                    views[oid].title, views[oid].chapter_name, views[oid].starts_at, count
                )
                for oid, count in sorted(
                    counts.items(), key=lambda item: meetings[item[0]][0].starts_at
                )
            ]

    async def _recipients(
        self, session: AsyncSession, row: MeetingOccurrence, lead: timedelta, now: datetime
    ) -> list[tuple[int, datetime, str | None]]:
        """(member, when to send, why not) for every chapter member who has not said Can't."""
        members = list(
            await session.scalars(
                select(ChapterMember.user_id).where(ChapterMember.chapter_id == row.chapter_id)
            )
        )
        cant = set(
            await session.scalars(
                select(MeetingRsvp.user_id).where(
                    MeetingRsvp.occurrence_id == row.id, MeetingRsvp.answer == RsvpAnswer.CANT
                )
            )
        )
        chapter = await session.get(Chapter, row.chapter_id)
        assert chapter is not None
        prefs = {
            p.user_id: p
            for p in await session.scalars(
                select(ReminderPreference).where(
                    ReminderPreference.guild_id == chapter.guild_id,
                    ReminderPreference.user_id.in_(members),
                )
            )
        }
        result: list[tuple[int, datetime, str | None]] = []
        for user in members:
            if user in cant:
                continue
            pref = prefs.get(user)
            if pref is not None and not pref.enabled:
                continue
            if pref is not None and pref.leads_minutes and lead not in _leads(pref.leads_minutes):
                continue
            due = now
            if pref is not None:
                quiet_until = quiet_hours_end(pref, now)
                if quiet_until is not None:
                    if quiet_until >= row.starts_at:
                        result.append((user, quiet_until, "quiet hours until the meeting"))
                        continue
                    due = quiet_until
            result.append((user, due, None))
        return result

    async def ledger(self, occurrence_id: int) -> list[tuple[int, int, str, bool]]:
        """(lead minutes, member, status, late) for every ledger row of an occurrence; a queued
        row whose outbox effect was applied (Discord returned the message) reads ``sent``."""
        async with self._sessions.read() as session:
            rows = list(
                await session.scalars(
                    select(ReminderDelivery)
                    .where(ReminderDelivery.occurrence_id == occurrence_id)
                    .order_by(ReminderDelivery.lead_minutes.desc(), ReminderDelivery.user_id)
                )
            )
            applied = set(
                await session.scalars(
                    select(Effect.dedupe_key).where(
                        Effect.dedupe_key.in_([reminder_dedupe_key(r.id) for r in rows]),
                        Effect.status == EffectStatus.APPLIED,
                    )
                )
            )
            result = []
            for r in rows:
                status = r.status.value
                if r.status == ReminderStatus.QUEUED and reminder_dedupe_key(r.id) in applied:
                    status = ReminderStatus.SENT.value
                result.append((r.lead_minutes, r.user_id, status, r.late))
            return result

    # ------------------------------------------------------------------ helpers

    async def _chapter(self, session: AsyncSession, guild_id: int, chapter_id: int) -> Chapter:
        chapter = await session.get(Chapter, chapter_id)
        if chapter is None or chapter.guild_id != guild_id or not chapter.active:
            raise NotFound("That chapter does not exist (any more). Pick one from the list.")
        return chapter

    async def _occurrence(
        self, session: AsyncSession, guild_id: int | None, occurrence_id: int
    ) -> MeetingOccurrence:
        """``guild_id`` None: a button in a DM, where only the occurrence says the guild."""
        row = await session.get(MeetingOccurrence, occurrence_id)
        if row is not None:
            chapter = await session.get(Chapter, row.chapter_id)
            if chapter is not None and (guild_id is None or chapter.guild_id == guild_id):
                return row
        raise NotFound("That meeting does not exist; pick one from /meeting list.")

    async def _require_steward(
        self, session: AsyncSession, chapter: Chapter, actor_id: int, actor_is_organizer: bool
    ) -> None:
        """Facilitators, founders and organizers run a chapter's meetings."""
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
            "can manage its meetings."
        )

    async def _occurrence_rows(
        self, session: AsyncSession, *, series_id: int, limit: int
    ) -> list[MeetingOccurrence]:
        return list(
            await session.scalars(
                select(MeetingOccurrence)
                .where(MeetingOccurrence.series_id == series_id)
                .order_by(MeetingOccurrence.starts_at)
                .limit(limit)
            )
        )

    async def _views(
        self, session: AsyncSession, rows: Sequence[MeetingOccurrence]
    ) -> tuple[OccurrenceView, ...]:
        if not rows:
            return ()
        ids = [r.id for r in rows]
        counts: dict[int, dict[RsvpAnswer, int]] = {}
        for occurrence_id, answer, count in await session.execute(
            select(MeetingRsvp.occurrence_id, MeetingRsvp.answer, func.count())
            .where(MeetingRsvp.occurrence_id.in_(ids))
            .group_by(MeetingRsvp.occurrence_id, MeetingRsvp.answer)
        ):
            counts.setdefault(occurrence_id, {})[answer] = count
        attendees = dict(
            (occurrence_id, count)
            for occurrence_id, count in await session.execute(
                select(MeetingAttendance.occurrence_id, func.count())
                .where(MeetingAttendance.occurrence_id.in_(ids))
                .group_by(MeetingAttendance.occurrence_id)
            )
        )
        series = {
            s.id: s
            for s in await session.scalars(
                select(MeetingSeries).where(MeetingSeries.id.in_({r.series_id for r in rows}))
            )
        }
        chapters = {
            c.id: c
            for c in await session.scalars(
                select(Chapter).where(Chapter.id.in_({r.chapter_id for r in rows}))
            )
        }
        views = []
        for row in rows:
            s = series[row.series_id]
            c = chapters[row.chapter_id]
            answer_counts = counts.get(row.id, {})
            views.append(
                OccurrenceView(
                    id=row.id,
                    series_id=s.id,
                    guild_id=c.guild_id,
                    chapter_id=c.id,
                    chapter_name=c.name,
                    channel_id=c.channel_id,
                    title=row.title or s.title,
                    location=row.location or s.location,
                    starts_at=row.starts_at,
                    ends_at=row.ends_at,
                    timezone=s.timezone,
                    repeat=recurrence.describe(s.rrule),
                    cancelled=row.cancelled_at is not None,
                    held=row.held_at is not None,
                    notes=row.notes,
                    counts=RsvpCounts(
                        going=answer_counts.get(RsvpAnswer.GOING, 0),
                        maybe=answer_counts.get(RsvpAnswer.MAYBE, 0),
                        cant=answer_counts.get(RsvpAnswer.CANT, 0),
                    ),
                    attendee_count=attendees.get(row.id, 0),
                    event_id=row.event_id,
                )
            )
        return tuple(views)


def _meeting_length(text: str) -> timedelta:
    length = recurrence.parse_duration(text)
    if not recurrence.MIN_DURATION <= length <= recurrence.MAX_DURATION:
        raise InvalidInput("A meeting lasts between 5 minutes and 24 hours.")
    return length


def _parse_quiet(text: str) -> tuple[int | None, int | None]:
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned in {"off", "none", "no", ""}:
        return None, None
    parts = cleaned.replace("to", "-").split("-")
    if len(parts) != 2:
        raise InvalidInput("Give quiet hours like `22:00-07:00`, or `off`.")
    minutes = []
    for part in parts:
        try:
            hour, _, minute = part.partition(":")
            h, m = int(hour), int(minute or 0)
        except ValueError as exc:
            raise InvalidInput("Give quiet hours like `22:00-07:00`, or `off`.") from exc
        if not (0 <= h <= 23 and 0 <= m <= 59):
            raise InvalidInput("Give quiet hours like `22:00-07:00`, or `off`.")
        minutes.append(h * 60 + m)
    if minutes[0] == minutes[1]:
        raise InvalidInput("Quiet hours need a start and an end that differ.")
    return minutes[0], minutes[1]


def quiet_hours_end(pref: ReminderPreference, now: datetime) -> datetime | None:
    """When the member's quiet hours end, if ``now`` is inside them; else None."""
    if pref.quiet_start is None or pref.quiet_end is None or pref.timezone is None:
        return None
    tz = ZoneInfo(pref.timezone)
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    start, end = pref.quiet_start, pref.quiet_end
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_local = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_local.replace(tzinfo=None) <= local.replace(tzinfo=None):
        end_local = end_local + timedelta(days=1)
    return recurrence.to_utc(end_local.replace(tzinfo=None), tz)


def _prefs_view(row: ReminderPreference | None) -> ReminderPrefsView:
    if row is None:
        return ReminderPrefsView(True, None, None, None, None)
    return ReminderPrefsView(
        enabled=row.enabled,
        leads=_leads(row.leads_minutes) or None,
        quiet_start=time(row.quiet_start // 60, row.quiet_start % 60)
        if row.quiet_start is not None
        else None,
        quiet_end=time(row.quiet_end // 60, row.quiet_end % 60)
        if row.quiet_end is not None
        else None,
        timezone=row.timezone,
    )
