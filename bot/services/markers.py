"""Organization-wide markers (e.g. 3,500 members and 20 formal chapters on 3 continents by a
date), their progress, a projection at the current pace, and alerts when a marker may be missed.

History is derived from events, not snapshots, so projections mean something from day one:
members from ``MemberProfile.joined_at``/``left_at``; formal chapters and their continents from
``ChapterStatusChange`` rows (reconciled with each chapter's current status). The pace is the
change over the last 90 days (or since the first event if younger; at least a 7-day span) per
day; the projected date is ``now + (target - current) / pace``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import InvalidInput, NotFound
from bot.services.chapter_settings import load_chapter_settings
from db.models import (
    Affiliate,
    Chapter,
    ChapterStatus,
    ChapterStatusChange,
    Marker,
    MarkerKind,
    MemberProfile,
)
from db.session import Sessions

PACE_WINDOW = timedelta(days=90)
MIN_PACE_SPAN = timedelta(days=7)
# Beyond this a projection means nothing: it reads "not at this pace".
MAX_PROJECTION = timedelta(days=365 * 100)
MAX_DEADLINE = timedelta(days=365 * 50)
# Deadlines are dates; stored at noon UTC so the date reads the same from UTC-11 to UTC+11.
DEADLINE_TIME = time(12, 0, tzinfo=UTC)
CHECK_EVENT = "marker_check"
CHECK_TIME = time(14, 0, tzinfo=UTC)

TITLES: dict[MarkerKind, str] = {
    MarkerKind.MEMBERS: "Members",
    MarkerKind.FORMAL_CHAPTERS: "Formal chapters",
    MarkerKind.CONTINENTS: "Continents with a formal chapter",
}
UNITS: dict[MarkerKind, str] = {
    MarkerKind.MEMBERS: "members",
    MarkerKind.FORMAL_CHAPTERS: "formal chapters",
    MarkerKind.CONTINENTS: "continents with a formal chapter",
}
TARGET_LIMITS: dict[MarkerKind, int] = {
    MarkerKind.MEMBERS: 10_000_000,
    MarkerKind.FORMAL_CHAPTERS: 100_000,
    MarkerKind.CONTINENTS: 7,
}
CONTINGENCY_NOTE = (
    "Organizers can open a contingency vote (redefine the markers, change the number of "
    "chapters, or push the date 6 months) with the button below or /vote contingency."
)
_KIND_ALIASES = {
    "chapters": MarkerKind.FORMAL_CHAPTERS,
    "formal chapters": MarkerKind.FORMAL_CHAPTERS,
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Statuses of a marker at a point in time.
NO_TARGET = "no_target"
REACHED = "reached"
ON_TRACK = "on_track"
BEHIND = "behind"  # projected after the deadline
NO_PACE = "no_pace"  # not growing: never reached at this pace
MISSED = "missed"  # deadline passed, target not reached

Series = tuple[tuple[datetime, int], ...]


def parse_kind(value: str | MarkerKind) -> MarkerKind:
    if isinstance(value, MarkerKind):
        return value
    key = value.strip().lower().replace("-", "_")
    try:
        return MarkerKind(key)
    except ValueError:
        pass
    if key.replace("_", " ") in _KIND_ALIASES:
        return _KIND_ALIASES[key.replace("_", " ")]
    kinds = ", ".join(k.value for k in MarkerKind)
    raise InvalidInput(f"“{value[:30]}” isn't a marker kind. Use one of: {kinds}.")


def parse_deadline(value: str | date, today: date) -> datetime:
    """A YYYY-MM-DD date after today, as an aware datetime (noon UTC that day)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        text = value.strip()
        if not _DATE.match(text):
            raise InvalidInput(f"Write the deadline as YYYY-MM-DD, like {today.year + 1}-06-30.")
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"“{text}” isn't a real date. Write the deadline as YYYY-MM-DD, "
                f"like {today.year + 1}-06-30."
            ) from None
    if value <= today:
        raise InvalidInput("The deadline must be in the future (after today, UTC).")
    if value > today + MAX_DEADLINE:
        raise InvalidInput("That deadline is too far away; pick one within 50 years.")
    return datetime.combine(value, DEADLINE_TIME)


def next_check_time(now: datetime) -> datetime:
    """The next daily marker check strictly after ``now`` (14:00 UTC)."""
    candidate = datetime.combine(now.astimezone(UTC).date(), CHECK_TIME)
    return candidate if candidate > now else candidate + timedelta(days=1)


def check_key(guild_id: int, when: datetime) -> str:
    """One keyed timer per guild and day: re-arming the same day is a no-op."""
    return f"{CHECK_EVENT}:{guild_id}:{when:%Y-%m-%d}"


# ------------------------------------------------------------------ series


def cumulative(events: Iterable[tuple[datetime, int]]) -> Series:
    """Deltas (time, +1/-1) -> step series of (time, value after every event at that time)."""
    points: list[tuple[datetime, int]] = []
    value = 0
    for when, delta in sorted(events, key=lambda e: e[0]):
        value += delta
        if points and points[-1][0] == when:
            points[-1] = (when, value)
        else:
            points.append((when, value))
    return tuple(points)


def distinct_series(intervals: Iterable[tuple[str, datetime, datetime | None]]) -> Series:
    """Intervals (key, start, end or None) -> number of distinct keys alive over time."""
    events: list[tuple[datetime, int, str]] = []
    for key, start, end in intervals:
        events.append((start, 1, key))
        if end is not None:
            events.append((end, -1, key))
    events.sort(key=lambda e: e[0])
    counts: Counter[str] = Counter()
    points: list[tuple[datetime, int]] = []
    for when, delta, key in events:
        counts[key] += delta
        value = sum(1 for c in counts.values() if c > 0)
        if points and points[-1][0] == when:
            points[-1] = (when, value)
        elif not points or points[-1][1] != value:
            points.append((when, value))
    return tuple(points)


def value_at(series: Series, when: datetime, *, inclusive: bool = True) -> int:
    """The series' value at ``when`` (after events at ``when`` unless ``inclusive`` is False)."""
    times = [t for t, _ in series]
    index = (bisect_right if inclusive else bisect_left)(times, when)
    return series[index - 1][1] if index else 0


def pace_per_day(series: Series, now: datetime) -> float:
    """Change per day over the last 90 days, or since the first event if younger (≥ 7 days)."""
    if not series:
        return 0.0
    start = max(now - PACE_WINDOW, series[0][0])
    span = max(now - start, MIN_PACE_SPAN)
    change = value_at(series, now) - value_at(series, start, inclusive=False)
    return change / (span.total_seconds() / 86400)


@dataclass(frozen=True, slots=True)
class MarkerSummary:
    guild_id: int
    kind: MarkerKind
    target: int
    deadline: datetime
    created_by: int

    @property
    def title(self) -> str:
        return TITLES[self.kind]


@dataclass(frozen=True, slots=True)
class MarkerProgress:
    kind: MarkerKind
    current: int
    target: int | None
    deadline: datetime | None
    pace_per_day: float
    projected: datetime | None  # when the target is reached at this pace; None: not at this pace
    status: str
    history: Series

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    @property
    def percent(self) -> float | None:
        if self.target is None:
            return None
        return 100.0 * self.current / self.target

    def value_at_deadline(self, now: datetime) -> float | None:
        """The value the current pace leads to by the deadline (for the dashed projection)."""
        if self.deadline is None or self.deadline <= now:
            return None
        return self.current + self.pace_per_day * (self.deadline - now).total_seconds() / 86400

    @property
    def alert_state(self) -> str:
        """Coarse state organizers were told about; day-to-day drift doesn't change it."""
        coarse = {
            REACHED: "reached",
            ON_TRACK: "on_track",
            BEHIND: "miss",
            NO_PACE: "miss",
            MISSED: "missed",
        }.get(self.status, self.status)
        deadline = f"{self.deadline:%Y-%m-%d}" if self.deadline else "-"
        return f"{coarse} {self.target} by {deadline}"


@dataclass(frozen=True, slots=True)
class MarkersReport:
    guild_id: int
    now: datetime
    markers: tuple[MarkerProgress, ...]  # every kind, in MarkerKind order
    affiliates: int
    lead_days: int

    def get(self, kind: MarkerKind | str) -> MarkerProgress:
        wanted = parse_kind(kind)
        return next(m for m in self.markers if m.kind == wanted)

    @property
    def has_targets(self) -> bool:
        return any(m.target is not None for m in self.markers)


@dataclass(frozen=True, slots=True)
class MarkerAlert:
    guild_id: int
    kind: MarkerKind
    state: str
    previous_state: str | None
    progress: MarkerProgress

    @property
    def is_miss(self) -> bool:
        return self.progress.status in (BEHIND, NO_PACE, MISSED)

    def text(self) -> str:
        p = self.progress
        assert p.target is not None and p.deadline is not None
        what = f"**{p.target:,} {p.unit}** by {p.deadline:%Y-%m-%d}"
        now_part = f"now {p.current:,} ({p.percent or 0:.0f}%)"
        if p.status == MISSED:
            return f"📉 Marker missed: {what} was not reached ({now_part}).\n{CONTINGENCY_NOTE}"
        if p.status in (BEHIND, NO_PACE):
            when = (
                f"projected {p.projected:%Y-%m-%d} at the current pace"
                if p.projected
                else "not reached at the current pace"
            )
            return (
                f"⚠️ Marker at risk: {what}: {now_part}, {when}, after the deadline.\n"
                f"{CONTINGENCY_NOTE}"
            )
        if p.status == REACHED:
            return f"🎉 Marker reached: {what} ({now_part})."
        return f"✅ Marker back on track: {what} ({now_part}, projected {p.projected:%Y-%m-%d})."


def _miss(state: str | None) -> bool:
    return state is not None and state.split(" ", 1)[0] in ("miss", "missed")


def _marker_summary(row: Marker) -> MarkerSummary:
    return MarkerSummary(
        guild_id=row.guild_id,
        kind=MarkerKind(row.kind),
        target=row.target,
        deadline=row.deadline,
        created_by=row.created_by,
    )


def progress_of(
    kind: MarkerKind, history: Series, marker: MarkerSummary | None, now: datetime
) -> MarkerProgress:
    current = value_at(history, now)
    pace = pace_per_day(history, now)
    target = marker.target if marker else None
    deadline = marker.deadline if marker else None
    projected: datetime | None = None
    if target is None or deadline is None:
        status = NO_TARGET
    elif current >= target:
        status = REACHED
        projected = now
    else:
        if pace > 0:
            days = (target - current) / pace
            if timedelta(days=days) <= MAX_PROJECTION:
                projected = now + timedelta(days=days)
        if now >= deadline:
            status = MISSED
        elif projected is None:
            status = NO_PACE
        else:
            status = ON_TRACK if projected <= deadline else BEHIND
    return MarkerProgress(
        kind=kind,
        current=current,
        target=target,
        deadline=deadline,
        pace_per_day=pace,
        projected=projected,
        status=status,
        history=history,
    )


class MarkerService:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # ---------------------------------------------------------------- markers

    async def set_marker(
        self,
        guild_id: int,
        kind: str | MarkerKind,
        target: int,
        deadline: str | date,
        actor_id: int,
    ) -> MarkerSummary:
        marker_kind = parse_kind(kind)
        limit = TARGET_LIMITS[marker_kind]
        if not 1 <= target <= limit:
            raise InvalidInput(
                f"The target for {UNITS[marker_kind]} must be between 1 and {limit:,}."
            )
        now = self._clock.now()
        when = parse_deadline(deadline, now.date())
        async with self._sessions.write() as session:
            row = await session.scalar(
                select(Marker).where(Marker.guild_id == guild_id, Marker.kind == marker_kind)
            )
            if row is None:
                row = Marker(guild_id=guild_id, kind=marker_kind)
                session.add(row)
            row.target = target
            row.deadline = when
            row.created_by = actor_id
            row.created_at = now
            return _marker_summary(row)

    async def remove_marker(self, guild_id: int, kind: str | MarkerKind) -> None:
        marker_kind = parse_kind(kind)
        async with self._sessions.write() as session:
            result = await session.execute(
                delete(Marker).where(Marker.guild_id == guild_id, Marker.kind == marker_kind)
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound(
                    f"No {UNITS[marker_kind]} marker is set, so there is none to remove."
                )

    async def list_markers(self, guild_id: int) -> list[MarkerSummary]:
        async with self._sessions.read() as session:
            rows = (await session.scalars(select(Marker).where(Marker.guild_id == guild_id))).all()
        order = list(MarkerKind)
        return sorted((_marker_summary(r) for r in rows), key=lambda m: order.index(m.kind))

    # ---------------------------------------------------------------- progress

    async def report(self, guild_id: int) -> MarkersReport:
        now = self._clock.now()
        async with self._sessions.read() as session:
            markers = {
                m.kind: m
                for m in (
                    _marker_summary(r)
                    for r in (
                        await session.scalars(select(Marker).where(Marker.guild_id == guild_id))
                    ).all()
                )
            }
            histories = await self._histories(session, guild_id, now)
            affiliates = await session.scalar(
                select(func.count())
                .select_from(Affiliate)
                .where(Affiliate.guild_id == guild_id, Affiliate.active.is_(True))
            )
            lead_days = (await load_chapter_settings(session, guild_id)).marker_lead_days
        return MarkersReport(
            guild_id=guild_id,
            now=now,
            markers=tuple(
                progress_of(kind, histories[kind], markers.get(kind), now) for kind in MarkerKind
            ),
            affiliates=affiliates or 0,
            lead_days=lead_days,
        )

    async def _histories(
        self, session: AsyncSession, guild_id: int, now: datetime
    ) -> dict[MarkerKind, Series]:
        """Every series from events; times after ``now`` (clock skew) count as ``now``."""
        member_events: list[tuple[datetime, int]] = []
        for joined_at, left_at in await session.execute(
            select(MemberProfile.joined_at, MemberProfile.left_at).where(
                MemberProfile.guild_id == guild_id
            )
        ):
            member_events.append((min(joined_at, now), 1))
            if left_at is not None:
                member_events.append((min(left_at, now), -1))

        chapters = (
            await session.execute(
                select(
                    Chapter.id,
                    Chapter.status,
                    Chapter.continent_code,
                    Chapter.status_changed_at,
                ).where(Chapter.guild_id == guild_id)
            )
        ).all()
        changes: dict[int, list[tuple[ChapterStatus, datetime]]] = {}
        if chapters:
            for chapter_id, to_status, at in await session.execute(
                select(
                    ChapterStatusChange.chapter_id,
                    ChapterStatusChange.to_status,
                    ChapterStatusChange.at,
                )
                .join(Chapter, Chapter.id == ChapterStatusChange.chapter_id)
                .where(Chapter.guild_id == guild_id)
                .order_by(ChapterStatusChange.at, ChapterStatusChange.id)
            ):
                changes.setdefault(chapter_id, []).append((ChapterStatus(to_status), min(at, now)))
        intervals: list[tuple[str, datetime, datetime | None]] = []
        for chapter_id, status, continent, changed_at in chapters:
            intervals.extend(
                (continent or "?", start, end)
                for start, end in formal_intervals(
                    changes.get(chapter_id, []), ChapterStatus(status), min(changed_at, now)
                )
            )
        chapter_events: list[tuple[datetime, int]] = []
        for _, start, end in intervals:
            chapter_events.append((start, 1))
            if end is not None:
                chapter_events.append((end, -1))
        return {
            MarkerKind.MEMBERS: cumulative(member_events),
            MarkerKind.FORMAL_CHAPTERS: cumulative(chapter_events),
            MarkerKind.CONTINENTS: distinct_series(intervals),
        }

    # ------------------------------------------------------------------ alerts

    async def has_markers(self, guild_id: int) -> bool:
        async with self._sessions.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(Marker).where(Marker.guild_id == guild_id)
            )
            return bool(count)

    async def guilds_with_markers(self) -> list[int]:
        async with self._sessions.read() as session:
            return list((await session.scalars(select(Marker.guild_id).distinct())).all())

    async def check_alerts(self, guild_id: int) -> list[MarkerAlert]:
        """The alerts organizers should get now (the daily check).

        Only markers whose deadline is within ``marker_lead_days`` are looked at. A marker
        alerts when its coarse state (miss/missed vs on track/reached, with target and deadline)
        differs from what organizers were last told, and the news is a miss or the end of one.
        Quiet changes (e.g. first seen on track) are recorded here; alerts are recorded with
        :meth:`acknowledge` once delivered, so an undelivered alert is tried again next time.
        """
        report = await self.report(guild_id)
        lead = timedelta(days=report.lead_days)
        alerts: list[MarkerAlert] = []
        quiet: dict[MarkerKind, str] = {}
        async with self._sessions.read() as session:
            told = {
                MarkerKind(kind): state
                for kind, state in (
                    await session.execute(
                        select(Marker.kind, Marker.alert_state).where(Marker.guild_id == guild_id)
                    )
                )
            }
        for progress in report.markers:
            if progress.target is None or progress.deadline is None:
                continue
            if report.now < progress.deadline - lead:
                continue
            state = progress.alert_state
            previous = told.get(progress.kind)
            if state == previous:
                continue
            if _miss(state) or _miss(previous):
                alerts.append(MarkerAlert(guild_id, progress.kind, state, previous, progress))
            else:
                quiet[progress.kind] = state
        for kind, state in quiet.items():
            await self._record(guild_id, kind, state, told.get(kind))
        return alerts

    async def acknowledge(self, alert: MarkerAlert) -> bool:
        """Record that organizers were told ``alert``; False if the state moved meanwhile."""
        return await self._record(alert.guild_id, alert.kind, alert.state, alert.previous_state)

    async def _record(
        self, guild_id: int, kind: MarkerKind, state: str, previous: str | None
    ) -> bool:
        async with self._sessions.write() as session:
            row = await session.scalar(
                select(Marker).where(Marker.guild_id == guild_id, Marker.kind == kind)
            )
            if row is None or row.alert_state != previous:
                return False
            row.alert_state = state[:120]
            row.alerted_at = self._clock.now()
            return True


def formal_intervals(
    changes: Sequence[tuple[ChapterStatus, datetime]],
    current: ChapterStatus,
    changed_at: datetime,
) -> list[tuple[datetime, datetime | None]]:
    """When a chapter was formal, from its status changes, made to agree with its status now."""
    intervals: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = None
    for to_status, at in changes:
        if to_status == ChapterStatus.FORMAL and since is None:
            since = at
        elif to_status != ChapterStatus.FORMAL and since is not None:
            intervals.append((since, at))
            since = None
    if current == ChapterStatus.FORMAL and since is None:
        since = changed_at
    elif current != ChapterStatus.FORMAL and since is not None:
        intervals.append((since, max(changed_at, since)))
        since = None
    if since is not None:
        intervals.append((since, None))
    return intervals
