"""Markers: progress, projections at the current pace and alerts, with members joining over
simulated months on a FakeClock, against a real SQLite database."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import InvalidInput, NotFound
from bot.services.affiliates import AffiliateService
from bot.services.chapter_settings import ChapterSettingsService
from bot.services.charts import render_markers_chart, thin
from bot.services.markers import (
    BEHIND,
    CONTINGENCY_NOTE,
    MISSED,
    NO_PACE,
    NO_TARGET,
    ON_TRACK,
    REACHED,
    MarkerService,
    check_key,
    cumulative,
    distinct_series,
    formal_intervals,
    next_check_time,
    pace_per_day,
    parse_deadline,
    value_at,
)
from bot.services.members import MemberService, MemberSnapshot
from bot.services.places import Gazetteer
from db.models import (
    Chapter,
    ChapterStatus,
    ChapterStatusChange,
    Marker,
    MarkerKind,
)

GUILD = 3003
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def markers(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> MarkerService:
    return MarkerService(sessions, clock)


@pytest.fixture
def members(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> MemberService:
    return MemberService(sessions, clock, Gazetteer())  # joins need no places: never loaded


class Grower:
    """Members joining every day as the clock moves (each day's guild member list is
    reconciled, as the bot does when it connects: one transaction per simulated day)."""

    def __init__(self, members: MemberService, clock: FakeClock) -> None:
        self.members = members
        self.clock = clock
        self.listed: list[MemberSnapshot] = []

    async def days(self, count: int, per_day: int) -> None:
        for _ in range(count):
            first = len(self.listed) + 1
            self.listed += [
                MemberSnapshot(user_id, self.clock.now())
                for user_id in range(first, first + per_day)
            ]
            result = await self.members.reconcile(GUILD, self.listed)
            assert result.added == per_day and result.left == 0
            self.clock.advance(DAY)


@pytest.fixture
def grow(members: MemberService, clock: FakeClock) -> Grower:
    return Grower(members, clock)


async def add_chapter(
    sessions: async_sessionmaker[AsyncSession],
    continent: str,
    history: list[tuple[ChapterStatus, datetime]],
    name: str,
) -> int:
    status, at = history[-1]
    async with sessions.begin() as session:
        chapter = Chapter(
            guild_id=GUILD,
            name=name,
            name_key=name.lower(),
            geoname_id=abs(hash(name)) % 10_000_000,
            city_label=f"{name}, XX",
            region_code="",
            region_name="",
            country_code="XX",
            continent_code=continent,
            timezone="UTC",
            status=status,
            active=True,
            created_by=1,
            created_at=history[0][1],
            status_changed_at=at,
        )
        session.add(chapter)
        await session.flush()
        previous = None
        for to_status, when in history:
            session.add(
                ChapterStatusChange(
                    chapter_id=chapter.id,
                    from_status=previous,
                    to_status=to_status,
                    reason="test",
                    actor_id=1,
                    at=when,
                )
            )
            previous = to_status
        return chapter.id


# ------------------------------------------------------------------ pure series


def test_cumulative_and_value_at() -> None:
    t = [START + DAY * i for i in range(4)]
    series = cumulative([(t[2], -1), (t[0], 1), (t[1], 1), (t[1], 1), (t[3], 1)])
    assert series == ((t[0], 1), (t[1], 3), (t[2], 2), (t[3], 3))
    assert value_at(series, t[0] - DAY) == 0
    assert value_at(series, t[1]) == 3
    assert value_at(series, t[1], inclusive=False) == 1
    assert value_at(series, t[3] + DAY) == 3


def test_distinct_series_counts_continents() -> None:
    t = [START + DAY * i for i in range(5)]
    series = distinct_series(
        [("NA", t[0], None), ("NA", t[1], t[3]), ("EU", t[2], t[4]), ("AF", t[3], None)]
    )
    assert [v for _, v in series] == [1, 2, 3, 2]  # only changes are points


def test_pace_window_and_minimum_span() -> None:
    now = START + DAY * 200
    # 1 member/day for 200 days: pace over the last 90 days is 1/day
    series = cumulative((START + DAY * i, 1) for i in range(200))
    assert pace_per_day(series, now) == pytest.approx(1.0, rel=0.02)
    # younger than 90 days: since the first event (value before it is 0)
    young = cumulative((now - DAY * i, 1) for i in range(1, 31))
    assert pace_per_day(young, now) == pytest.approx(1.0)
    # younger than 7 days: spread over 7 days
    fresh = cumulative([(now - timedelta(hours=1), 7)])
    assert pace_per_day(fresh, now) == pytest.approx(1.0)
    assert pace_per_day((), now) == 0.0


def test_formal_intervals_follow_changes_and_status() -> None:
    t = [START + DAY * i for i in range(5)]
    f, fm, lapsed = ChapterStatus.FORMAL, ChapterStatus.FORMING, ChapterStatus.LAPSED
    assert formal_intervals([(fm, t[0]), (f, t[1])], f, t[1]) == [(t[1], None)]
    assert formal_intervals([(fm, t[0]), (f, t[1]), (lapsed, t[3])], lapsed, t[3]) == [(t[1], t[3])]
    # status says formal but no change row recorded it: formal since the status change
    assert formal_intervals([(fm, t[0])], f, t[2]) == [(t[2], None)]
    # rows say formal but the status moved on without a row
    assert formal_intervals([(f, t[0])], ChapterStatus.AT_RISK, t[4]) == [(t[0], t[4])]


def test_parse_deadline() -> None:
    today = date(2026, 1, 1)
    assert parse_deadline("2026-06-30", today) == datetime(2026, 6, 30, 12, tzinfo=UTC)
    for bad in ("2026/06/30", "30-06-2026", "2026-02-30", "soon", "2026-1-5"):
        with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
            parse_deadline(bad, today)
    for past in ("2026-01-01", "2025-12-31"):
        with pytest.raises(InvalidInput, match="future"):
            parse_deadline(past, today)
    with pytest.raises(InvalidInput, match="50 years"):
        parse_deadline("2099-01-01", today)


def test_daily_check_time_and_key() -> None:
    assert next_check_time(START) == datetime(2026, 1, 1, 14, tzinfo=UTC)
    late = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
    assert next_check_time(late) == datetime(2026, 1, 2, 14, tzinfo=UTC)
    assert check_key(5, next_check_time(START)) == "marker_check:5:2026-01-01"


# -------------------------------------------------------------- set and remove


async def test_set_replace_remove_marker(markers: MarkerService) -> None:
    view = await markers.set_marker(GUILD, "members", 3500, "2027-01-01", actor_id=9)
    assert (view.kind, view.target, view.deadline.date()) == (
        MarkerKind.MEMBERS,
        3500,
        date(2027, 1, 1),
    )
    await markers.set_marker(GUILD, "members", 4000, "2027-06-01", actor_id=9)
    await markers.set_marker(GUILD, "chapters", 20, "2027-06-01", actor_id=9)
    listed = await markers.list_markers(GUILD)
    assert [(m.kind, m.target) for m in listed] == [
        (MarkerKind.MEMBERS, 4000),
        (MarkerKind.FORMAL_CHAPTERS, 20),
    ]
    await markers.remove_marker(GUILD, "formal_chapters")
    with pytest.raises(NotFound):
        await markers.remove_marker(GUILD, "formal_chapters")
    assert await markers.has_markers(GUILD)
    assert await markers.guilds_with_markers() == [GUILD]


@pytest.mark.parametrize(
    ("kind", "target", "deadline", "match"),
    [
        ("members", 0, "2027-01-01", "between 1 and"),
        ("continents", 8, "2027-01-01", "between 1 and 7"),
        ("planets", 3, "2027-01-01", "members, formal_chapters, continents"),
        ("members", 10, "next year", "YYYY-MM-DD"),
        ("members", 10, "2025-06-01", "future"),
    ],
)
async def test_set_marker_refuses_bad_input(
    markers: MarkerService, kind: str, target: int, deadline: str, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        await markers.set_marker(GUILD, kind, target, deadline, actor_id=9)
    assert await markers.list_markers(GUILD) == []


# ---------------------------------------------------------------- projections


async def test_members_on_track_miss_and_not_at_this_pace(
    markers: MarkerService, grow: Grower, clock: FakeClock, members: MemberService
) -> None:
    await grow.days(60, per_day=10)  # 600 members over two months: 10 a day
    await markers.set_marker(GUILD, "members", 2000, "2026-12-01", actor_id=9)
    p = (await markers.report(GUILD)).get("members")
    assert p.current == 600
    assert p.pace_per_day == pytest.approx(10, rel=0.01)
    assert p.status == ON_TRACK
    assert p.projected is not None
    assert p.projected.date() == (clock.now() + timedelta(days=140)).date()
    assert p.percent == pytest.approx(30)

    await markers.set_marker(GUILD, "members", 5000, "2026-12-01", actor_id=9)
    p = (await markers.report(GUILD)).get("members")
    assert p.status == BEHIND
    assert p.projected is not None and p.projected > p.deadline  # type: ignore[operator]

    # nobody joins for 100 days and some leave: no growth over the last 90 days
    clock.advance(DAY * 100)
    for user_id in range(1, 11):
        await members.member_left(GUILD, user_id)
    p = (await markers.report(GUILD)).get("members")
    assert p.current == 590
    assert p.pace_per_day < 0
    assert p.status == NO_PACE and p.projected is None

    await markers.set_marker(GUILD, "members", 500, "2026-12-01", actor_id=9)
    p = (await markers.report(GUILD)).get("members")
    assert p.status == REACHED


async def test_chapters_and_continents_from_status_history(
    sessions: async_sessionmaker[AsyncSession], markers: MarkerService, clock: FakeClock
) -> None:
    f, fm = ChapterStatus.FORMAL, ChapterStatus.FORMING
    t0 = clock.now()
    await add_chapter(sessions, "NA", [(fm, t0), (f, t0 + DAY * 10)], "Chicago")
    await add_chapter(sessions, "NA", [(fm, t0), (f, t0 + DAY * 20)], "Boston")
    await add_chapter(sessions, "EU", [(fm, t0), (f, t0 + DAY * 30)], "Berlin")
    await add_chapter(
        sessions,
        "AF",
        [(fm, t0), (f, t0 + DAY * 5), (ChapterStatus.LAPSED, t0 + DAY * 25)],
        "Nairobi",
    )
    await add_chapter(sessions, "SA", [(fm, t0)], "Lima")
    clock.advance(DAY * 40)
    await markers.set_marker(GUILD, "formal_chapters", 40, "2026-12-31", actor_id=9)
    await markers.set_marker(GUILD, "continents", 3, "2026-12-31", actor_id=9)
    report = await markers.report(GUILD)
    chapters = report.get("formal_chapters")
    assert chapters.current == 3
    assert [v for _, v in chapters.history] == [1, 2, 3, 2, 3]
    # 3 formal chapters gained since the first event 35 days ago: 37 more take ~430 days
    assert chapters.pace_per_day == pytest.approx(3 / 35)
    assert chapters.status == BEHIND
    continents = report.get("continents")
    assert continents.current == 2  # NA and EU (Nairobi lapsed, Lima is forming)
    assert [v for _, v in continents.history] == [1, 2, 1, 2]
    assert continents.status == ON_TRACK  # one more continent in ~35 days at this pace
    assert report.get("members").status == NO_TARGET


async def test_affiliates_are_counted_separately(
    sessions: async_sessionmaker[AsyncSession], markers: MarkerService, clock: FakeClock
) -> None:
    affiliates = AffiliateService(sessions, clock, Gazetteer())
    await affiliates.register(GUILD, 9, "Riverside Tenants Union")
    await affiliates.register(GUILD, 9, "Food Not Bombs")
    await affiliates.remove(GUILD, "food not bombs")
    report = await markers.report(GUILD)
    assert report.affiliates == 1
    assert report.get("formal_chapters").current == 0


# -------------------------------------------------------------------- alerts


async def test_alert_once_per_change(
    sessions: async_sessionmaker[AsyncSession],
    markers: MarkerService,
    grow: Grower,
    clock: FakeClock,
) -> None:
    await ChapterSettingsService(sessions, clock).update(GUILD, marker_lead_days=60)
    await grow.days(30, per_day=5)  # 150 members, 5 a day
    # needs 850 more by 2026-06-01 (~120 days away): at 5/day that is 170 days: a miss
    await markers.set_marker(GUILD, "members", 1000, "2026-06-01", actor_id=9)
    told: list[str] = []

    async def daily(days: int, per_day: int = 5) -> None:
        for _ in range(days):
            for alert in await markers.check_alerts(GUILD):
                told.append(alert.state)
                assert await markers.acknowledge(alert)
            await grow.days(1, per_day)

    await daily(55)  # outside the 60-day lead window: nothing said
    assert told == []
    await daily(10)  # inside the window: told once, not again for day-to-day drift
    assert told == ["miss 1000 by 2026-06-01"]
    # a surge puts the marker back on track: told once
    await grow.days(1, per_day=500)
    await daily(5)
    assert told == ["miss 1000 by 2026-06-01", "on_track 1000 by 2026-06-01"]
    # a new target that is missed again is news
    await markers.set_marker(GUILD, "members", 5000, "2026-06-01", actor_id=9)
    await daily(3)
    assert told[-1] == "miss 5000 by 2026-06-01" and len(told) == 3
    # the deadline passes: told it was missed, once
    clock.set(datetime(2026, 6, 2, 14, tzinfo=UTC))
    await daily(3, per_day=0)
    assert told[-1] == "missed 5000 by 2026-06-01" and len(told) == 4


async def test_alert_text_and_redelivery(
    sessions: async_sessionmaker[AsyncSession],
    markers: MarkerService,
    grow: Grower,
    clock: FakeClock,
) -> None:
    await grow.days(10, per_day=1)
    await markers.set_marker(GUILD, "members", 1000, "2026-02-01", actor_id=9)
    [alert] = await markers.check_alerts(GUILD)
    assert alert.is_miss and alert.previous_state is None
    text = alert.text()
    assert "1,000 members" in text and "2026-02-01" in text
    assert CONTINGENCY_NOTE in text
    # not acknowledged (organizers unreachable): offered again at the next check
    [again] = await markers.check_alerts(GUILD)
    assert again.state == alert.state
    assert await markers.acknowledge(again)
    assert await markers.acknowledge(again) is False  # state already moved
    assert await markers.check_alerts(GUILD) == []
    async with sessions() as session:
        row = await session.scalar(select(Marker).where(Marker.guild_id == GUILD))
        assert row is not None and row.alert_state == alert.state


async def test_on_track_is_recorded_quietly(
    markers: MarkerService, grow: Grower, clock: FakeClock
) -> None:
    await grow.days(30, per_day=10)
    await markers.set_marker(GUILD, "members", 400, "2026-03-01", actor_id=9)
    assert await markers.check_alerts(GUILD) == []
    report = await markers.report(GUILD)
    assert report.get("members").status == ON_TRACK
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))
    report = await markers.report(GUILD)
    assert report.get("members").status in (REACHED, MISSED)


# -------------------------------------------------------------------- chart


async def test_chart_is_a_png(
    sessions: async_sessionmaker[AsyncSession],
    markers: MarkerService,
    grow: Grower,
) -> None:
    await grow.days(20, per_day=3)
    await markers.set_marker(GUILD, "members", 500, "2026-09-01", actor_id=9)
    await markers.set_marker(GUILD, "continents", 3, "2026-09-01", actor_id=9)
    report = await markers.report(GUILD)
    started = time.perf_counter()
    png = render_markers_chart(report)
    elapsed = time.perf_counter() - started
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 5_000 < len(png) < 500_000
    assert elapsed < 3


def test_thin_keeps_ends() -> None:
    series = tuple((START + timedelta(minutes=i), i) for i in range(5000))
    thinned = thin(series, 100)
    assert len(thinned) == 100
    assert thinned[0] == series[0] and thinned[-1] == series[-1]
