"""ChapterService against a real migrated SQLite database and a fake clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.services.chapter_settings import (
    DEFAULT_MEETING_MONTHS,
    MEETING_ATTENDANCE_RECORDED,
    ChapterSettingsService,
)
from bot.services.chapters import (
    LAPSE_AFTER,
    ChapterService,
    ChapterStatus,
    clean_name,
    months_before,
    normalize_role,
)
from bot.services.places import AmbiguousPlace, Gazetteer, PlaceNotFound
from db.models import (
    Chapter,
    ChapterMeeting,
    ChapterSettings,
    ChapterStatusChange,
    OrganizerRegion,
)

GUILD = 1000
OTHER_GUILD = 2000
FOUNDER = 1
ORGANIZER = 99


@pytest.fixture
def service(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> ChapterService:
    return ChapterService(sessions, clock, gazetteer)


@pytest.fixture
def settings(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> ChapterSettingsService:
    return ChapterSettingsService(sessions, clock)


async def make_functioning(service: ChapterService, chapter_id: int, members: int = 5) -> None:
    """Members 1..members, an adopted agreement, facilitator 1 and note-taker 2."""
    for user in range(2, members + 1):
        await service.join(GUILD, chapter_id, user)
    agreement = await service.add_agreement(
        GUILD, chapter_id, "We meet on the 1st and 3rd.", actor_id=FOUNDER, actor_is_organizer=False
    )
    await service.adopt_agreement(
        GUILD, chapter_id, agreement.id, actor_id=FOUNDER, actor_is_organizer=False
    )
    await service.assign_role(
        GUILD, chapter_id, "facilitator", 1, actor_id=FOUNDER, actor_is_organizer=False
    )


async def add_meeting(
    sessions: async_sessionmaker[AsyncSession], chapter_id: int, held_at: datetime, count: int
) -> None:
    async with sessions.begin() as session:
        session.add(ChapterMeeting(chapter_id=chapter_id, held_at=held_at, attendee_count=count))


async def statuses(sessions: async_sessionmaker[AsyncSession], chapter_id: int) -> list[tuple]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ChapterStatusChange)
            .where(ChapterStatusChange.chapter_id == chapter_id)
            .order_by(ChapterStatusChange.id)
        )
        return [(r.from_status, r.to_status, r.reason, r.at) for r in rows]


# --------------------------------------------------------------------------- proposing


async def test_propose_records_a_forming_chapter_with_founder(
    service: ChapterService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    assert chapter.name == "Chicago Chapter"
    assert chapter.city_label == "Chicago, IL, US"
    assert (chapter.region_code, chapter.country_code, chapter.continent_code) == ("IL", "US", "NA")
    assert chapter.timezone == "America/Chicago"
    assert chapter.status == ChapterStatus.FORMING
    assert chapter.member_count == 1
    details = await service.details(GUILD, chapter.id)
    assert details.founders == (FOUNDER,)
    history = await statuses(sessions, chapter.id)
    assert history == [(None, ChapterStatus.FORMING, "proposed for Chicago, IL, US", clock.now())]


async def test_duplicate_city_is_refused_naming_the_existing_chapter(
    service: ChapterService,
) -> None:
    await service.propose(GUILD, FOUNDER, "Chicago", "Windy City Organizers")
    with pytest.raises(Conflict) as raised:
        await service.propose(GUILD, 2, "Chicago, IL", "Another One")
    assert "Windy City Organizers" in raised.value.message
    assert "/chapter join" in raised.value.message
    # another guild is independent
    other = await service.propose(OTHER_GUILD, 2, "Chicago")
    assert other.status == ChapterStatus.FORMING


async def test_duplicate_name_is_refused_and_default_names_disambiguate(
    service: ChapterService,
) -> None:
    await service.propose(GUILD, FOUNDER, "Portland, OR")
    second = await service.propose(GUILD, 2, "Portland, ME")
    assert second.name == "Portland, ME Chapter"
    with pytest.raises(Conflict, match="already a chapter named"):
        await service.propose(GUILD, 3, "Oakland", "portland chapter")


async def test_unknown_and_ambiguous_cities_raise_with_suggestions(
    service: ChapterService,
) -> None:
    with pytest.raises(PlaceNotFound) as not_found:
        await service.propose(GUILD, FOUNDER, "Chicgo")
    assert any(p.label == "Chicago, IL, US" for p in not_found.value.suggestions)
    with pytest.raises(AmbiguousPlace) as ambiguous:
        await service.propose(GUILD, FOUNDER, "Springfield")
    assert len(ambiguous.value.candidates) > 1
    assert await service.list_chapters(GUILD) == []


async def test_names_are_length_checked_and_never_ping(service: ChapterService) -> None:
    with pytest.raises(InvalidInput, match="at most 80"):
        await service.propose(GUILD, FOUNDER, "Chicago", "x" * 81)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago", "@everyone <@123> Chicago @here")
    assert "@" not in chapter.name and "<" not in chapter.name
    assert chapter.name == "everyone Chicago here"
    with pytest.raises(InvalidInput):
        clean_name("<@&5> @")


# --------------------------------------------------------------------------- lifecycle


async def test_forming_becomes_formal_when_all_criteria_met_without_meetings(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await settings.update(GUILD, meeting_months=0)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    for user in range(2, 6):
        change = await service.join(GUILD, chapter.id, user)
        assert change.transitions == ()  # no agreement, no roles yet
    agreement = await service.add_agreement(
        GUILD, chapter.id, "Consensus first.", actor_id=3, actor_is_organizer=False
    )
    adopted = await service.adopt_agreement(
        GUILD, chapter.id, agreement.id, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert adopted.transitions == ()
    first = await service.assign_role(
        GUILD, chapter.id, "Facilitator", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert first.transitions == ()
    details = await service.details(GUILD, chapter.id)
    assert [c.key for c in details.criteria.missing] == ["roles"]
    assert "note-taker" in details.criteria.missing[0].detail

    last = await service.assign_role(
        GUILD, chapter.id, "note taker", 3, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert len(last.transitions) == 1
    transition = last.transitions[0]
    assert (transition.from_status, transition.to_status) == (
        ChapterStatus.FORMING,
        ChapterStatus.FORMAL,
    )
    assert transition.automatic
    assert "all criteria met" in transition.reason
    assert (await service.get(GUILD, chapter.id)).status == ChapterStatus.FORMAL
    history = await statuses(sessions, chapter.id)
    assert [h[1] for h in history] == [ChapterStatus.FORMING, ChapterStatus.FORMAL]
    assert "note-taker role was assigned" in history[-1][2]


async def test_the_default_criteria_ask_for_a_meeting_with_recorded_attendance_each_month(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """Attendance is recorded (the meetings feature), so the default asks for a meeting with
    attendance each month again; a guild that saves other criteria keeps that default."""
    assert MEETING_ATTENDANCE_RECORDED
    await settings.update(GUILD, min_members=5)
    async with sessions() as session:
        row = await session.get(ChapterSettings, GUILD)
        assert row is not None and row.meeting_months is None  # the default, not a copy of it
    assert (await settings.get(GUILD)).meeting_months == DEFAULT_MEETING_MONTHS == 1
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chapter.id)
    change = await service.assign_role(
        GUILD, chapter.id, "note-taker", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert change.transitions == ()
    [meetings] = [
        c
        for c in (await service.details(GUILD, chapter.id)).criteria.results
        if c.key == "meetings"
    ]
    assert meetings.required and not meetings.met
    assert "not recorded" not in meetings.detail
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=1), 5)
    transition = await service.evaluate(GUILD, chapter.id)
    assert transition is not None and transition.to_status == ChapterStatus.FORMAL


async def test_meeting_months_one_requires_a_meeting_with_attendance_in_the_last_month(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await settings.update(GUILD, meeting_months=1)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chapter.id)
    await service.assign_role(
        GUILD, chapter.id, "note-taker", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    details = await service.details(GUILD, chapter.id)
    assert details.chapter.status == ChapterStatus.FORMING
    assert [c.key for c in details.criteria.missing] == ["meetings"]
    assert "no meetings recorded" in details.criteria.missing[0].detail

    # a meeting without attendance and one too long ago do not count
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=2), 0)
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=40), 8)
    assert await service.evaluate(GUILD, chapter.id) is None
    details = await service.details(GUILD, chapter.id)
    assert "last was" in details.criteria.missing[0].detail

    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=3), 6)
    transition = await service.evaluate(GUILD, chapter.id)
    assert transition is not None and transition.to_status == ChapterStatus.FORMAL

    # a month later with no new meeting, the daily evaluation puts it at risk
    clock.advance(timedelta(days=26))  # the meeting 3 days before start is 29 days ago
    assert await service.evaluate_guild(GUILD) == []
    clock.advance(timedelta(days=3))
    [at_risk] = await service.evaluate_guild(GUILD)
    assert at_risk.to_status == ChapterStatus.AT_RISK
    assert "no meeting with attendance" in at_risk.reason
    assert "daily evaluation" in at_risk.reason


async def test_meeting_months_two_needs_one_in_each_month(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await settings.update(GUILD, meeting_months=2)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chapter.id)
    await service.assign_role(
        GUILD, chapter.id, "note-taker", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=5), 5)
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=10), 5)
    assert await service.evaluate(GUILD, chapter.id) is None
    await add_meeting(sessions, chapter.id, clock.now() - timedelta(days=45), 5)
    transition = await service.evaluate(GUILD, chapter.id)
    assert transition is not None and transition.to_status == ChapterStatus.FORMAL


async def test_formal_at_risk_formal_lapsed_with_every_transition_recorded(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    await settings.update(GUILD, meeting_months=0)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chapter.id)
    change = await service.assign_role(
        GUILD, chapter.id, "note-taker", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert change.transitions[0].to_status == ChapterStatus.FORMAL

    left = await service.leave(GUILD, chapter.id, 5)
    assert [t.to_status for t in left.transitions] == [ChapterStatus.AT_RISK]
    assert "4 of 5 members" in left.transitions[0].reason

    clock.advance(timedelta(days=1))
    back = await service.join(GUILD, chapter.id, 6)
    assert [t.to_status for t in back.transitions] == [ChapterStatus.FORMAL]
    assert "criteria met again" in back.transitions[0].reason

    clock.advance(timedelta(days=1))
    await service.leave(GUILD, chapter.id, 6)
    clock.advance(LAPSE_AFTER - timedelta(days=1))
    assert await service.evaluate_guild(GUILD) == []
    clock.advance(timedelta(days=1))
    [lapsed] = await service.evaluate_guild(GUILD)
    assert lapsed.to_status == ChapterStatus.LAPSED
    assert "at risk for 60 days" in lapsed.reason
    # lapsed chapters are no longer evaluated automatically, even when criteria return
    await service.join(GUILD, chapter.id, 7)
    assert await service.evaluate_guild(GUILD) == []
    assert (await service.get(GUILD, chapter.id)).status == ChapterStatus.LAPSED

    history = await statuses(sessions, chapter.id)
    assert [(h[0], h[1]) for h in history] == [
        (None, ChapterStatus.FORMING),
        (ChapterStatus.FORMING, ChapterStatus.FORMAL),
        (ChapterStatus.FORMAL, ChapterStatus.AT_RISK),
        (ChapterStatus.AT_RISK, ChapterStatus.FORMAL),
        (ChapterStatus.FORMAL, ChapterStatus.AT_RISK),
        (ChapterStatus.AT_RISK, ChapterStatus.LAPSED),
    ]
    assert all(reason for _f, _t, reason, _at in history)
    times = [at for *_rest, at in history]
    assert times == sorted(times) and times[-1] == clock.now()


async def test_forming_never_goes_at_risk_and_settings_changes_apply(
    service: ChapterService, settings: ChapterSettingsService, clock: FakeClock
) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    clock.advance(timedelta(days=400))
    assert await service.evaluate_guild(GUILD) == []
    await settings.update(
        GUILD, min_members=1, meeting_months=0, require_agreements=False, key_roles=()
    )
    [transition] = await service.evaluate_guild(GUILD, trigger="a settings change")
    assert transition.chapter.id == chapter.id
    assert transition.to_status == ChapterStatus.FORMAL


async def test_set_status_by_hand_archive_and_revive(
    service: ChapterService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    transition = await service.set_status(
        GUILD, chapter.id, ChapterStatus.FORMAL, "met in person for a year", ORGANIZER
    )
    assert not transition.automatic
    with pytest.raises(InvalidInput):
        await service.set_status(GUILD, chapter.id, ChapterStatus.LAPSED, "   ", ORGANIZER)
    with pytest.raises(InvalidInput, match="/chapter merge"):
        await service.set_status(GUILD, chapter.id, ChapterStatus.MERGED, "x", ORGANIZER)
    with pytest.raises(Conflict, match="already formal"):
        await service.set_status(GUILD, chapter.id, ChapterStatus.FORMAL, "x", ORGANIZER)

    await service.archive(GUILD, chapter.id, "moved online", ORGANIZER)
    with pytest.raises(Conflict, match="archived"):
        await service.join(GUILD, chapter.id, 5)
    # the city is free again
    fresh = await service.propose(GUILD, 2, "Chicago", "Chicago Again")
    with pytest.raises(Conflict, match="Another chapter"):
        await service.set_status(GUILD, chapter.id, ChapterStatus.FORMING, "back", ORGANIZER)
    await service.archive(GUILD, fresh.id, "duplicate", ORGANIZER)
    revived = await service.set_status(GUILD, chapter.id, ChapterStatus.FORMING, "back", ORGANIZER)
    assert revived.chapter.active
    history = await statuses(sessions, chapter.id)
    assert history[-1][2] == "set by an organizer: back"


async def test_merge_moves_members_and_points_to_the_target(
    service: ChapterService, settings: ChapterSettingsService
) -> None:
    await settings.update(
        GUILD, min_members=4, meeting_months=0, require_agreements=False, key_roles=()
    )
    oakland = await service.propose(GUILD, 1, "Oakland")
    for user in (2, 3):
        await service.join(GUILD, oakland.id, user)
    sf = await service.propose(GUILD, 3, "San Francisco, CA")
    await service.join(GUILD, sf.id, 4)
    result = await service.merge(GUILD, oakland.id, sf.id, "one Bay Area chapter", ORGANIZER)
    assert sorted(result.moved_user_ids) == [1, 2]  # 3 was already in both
    assert result.source.status == ChapterStatus.MERGED
    assert result.target.member_count == 4
    assert (result.merged.chapter.id, result.merged.to_status) == (oakland.id, "merged")
    assert not result.merged.automatic and "one Bay Area chapter" in result.merged.reason
    # the grown target is re-evaluated in the same transaction: 4 members make it formal
    [grown] = result.target_transitions
    assert (grown.chapter.id, grown.to_status) == (sf.id, ChapterStatus.FORMAL)
    assert grown.automatic and "Oakland Chapter was merged into it" in grown.reason
    with pytest.raises(Conflict, match="merged into San Francisco Chapter"):
        await service.join(GUILD, oakland.id, 9)
    with pytest.raises(NotFound, match="merged into"):
        await service.resolve(GUILD, "Oakland Chapter")
    with pytest.raises(InvalidInput):
        await service.merge(GUILD, sf.id, sf.id, "x", ORGANIZER)


# --------------------------------------------------------------------------- membership


async def test_join_leave_and_errors(service: ChapterService) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    with pytest.raises(Conflict, match="already a member"):
        await service.join(GUILD, chapter.id, FOUNDER)
    with pytest.raises(NotFound, match="not a member"):
        await service.leave(GUILD, chapter.id, 42)
    with pytest.raises(NotFound):
        await service.join(OTHER_GUILD, chapter.id, 5)  # ids never cross guilds
    await service.join(GUILD, chapter.id, 2)
    await service.assign_role(
        GUILD, chapter.id, "treasurer", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    change = await service.leave(GUILD, chapter.id, 2)
    assert change.vacated_roles == ("treasurer",)
    assert (await service.details(GUILD, chapter.id)).roles == ()
    assert [c.id for c in await service.chapters_of(GUILD, FOUNDER)] == [chapter.id]


async def test_member_leaving_the_server_leaves_every_chapter(service: ChapterService) -> None:
    chicago = await service.propose(GUILD, FOUNDER, "Chicago")
    oakland = await service.propose(GUILD, 2, "Oakland")
    await service.join(GUILD, oakland.id, FOUNDER)
    changes = await service.remove_member_everywhere(GUILD, FOUNDER)
    assert sorted(c.chapter.id for c in changes) == sorted([chicago.id, oakland.id])
    assert await service.chapters_of(GUILD, FOUNDER) == []


async def test_members_who_left_while_the_bot_was_away_leave_their_chapters(
    service: ChapterService, settings: ChapterSettingsService
) -> None:
    await settings.update(GUILD, meeting_months=0, key_roles=("facilitator",))
    chicago = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chicago.id)
    assert (await service.get(GUILD, chicago.id)).status == ChapterStatus.FORMAL
    oakland = await service.propose(GUILD, 5, "Oakland")
    other = await service.propose(OTHER_GUILD, 4, "Chicago")
    # members 4 and 5 left the server while the bot was offline
    changes = await service.remove_absent_members(GUILD, [1, 2, 3, 99])
    assert sorted((c.chapter.id, c.user_id) for c in changes) == sorted(
        [(chicago.id, 4), (chicago.id, 5), (oakland.id, 5)]
    )
    assert (await service.get(GUILD, chicago.id)).member_count == 3
    assert (await service.get(GUILD, oakland.id)).member_count == 0
    assert (await service.get(OTHER_GUILD, other.id)).member_count == 1  # another guild
    [transition] = [t for c in changes for t in c.transitions]
    assert transition.to_status == ChapterStatus.AT_RISK
    assert "left the server while the bot was away" in transition.reason
    assert await service.remove_absent_members(GUILD, [1, 2, 3]) == []  # nothing left to do


# --------------------------------------------------------------------------- roles and agreements


async def test_only_stewards_assign_roles_and_adopt_agreements(service: ChapterService) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await service.join(GUILD, chapter.id, 2)
    await service.join(GUILD, chapter.id, 3)
    agreement = await service.add_agreement(
        GUILD, chapter.id, "Rotate facilitation.", actor_id=2, actor_is_organizer=False
    )
    with pytest.raises(NotAllowed, match="facilitator or founders"):
        await service.adopt_agreement(
            GUILD, chapter.id, agreement.id, actor_id=2, actor_is_organizer=False
        )
    with pytest.raises(NotAllowed):
        await service.assign_role(
            GUILD, chapter.id, "facilitator", 2, actor_id=2, actor_is_organizer=False
        )
    with pytest.raises(NotAllowed, match="Join with /chapter join"):
        await service.add_agreement(GUILD, chapter.id, "x", actor_id=77, actor_is_organizer=False)
    # an organizer may, and so may the facilitator once named
    await service.assign_role(
        GUILD, chapter.id, "facilitator", 2, actor_id=ORGANIZER, actor_is_organizer=True
    )
    adopted = await service.adopt_agreement(
        GUILD, chapter.id, agreement.id, actor_id=2, actor_is_organizer=False
    )
    assert adopted.agreement.adopted and adopted.agreement.adopted_by == 2
    with pytest.raises(Conflict, match="already adopted"):
        await service.adopt_agreement(
            GUILD, chapter.id, agreement.id, actor_id=FOUNDER, actor_is_organizer=False
        )
    with pytest.raises(NotFound, match="isn't a member"):
        await service.assign_role(
            GUILD, chapter.id, "outreach", 50, actor_id=FOUNDER, actor_is_organizer=False
        )
    with pytest.raises(InvalidInput, match="at most 1000"):
        await service.add_agreement(
            GUILD, chapter.id, "a" * 1001, actor_id=2, actor_is_organizer=False
        )
    with pytest.raises(InvalidInput):
        await service.add_agreement(GUILD, chapter.id, "   ", actor_id=2, actor_is_organizer=False)
    agreements = await service.list_agreements(GUILD, chapter.id)
    assert [a.adopted for a in agreements] == [True]


def test_role_names_are_normalized() -> None:
    assert normalize_role("Note Taker") == "note-taker"
    assert normalize_role("notetaker") == "note-taker"
    assert normalize_role(" FACILITATOR ") == "facilitator"
    for bad in ("", "@everyone", "x" * 41, "1st"):
        with pytest.raises(InvalidInput):
            normalize_role(bad)


async def test_rotation_is_a_fair_round_robin(service: ChapterService, clock: FakeClock) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    for user in range(2, 6):
        clock.advance(60)
        await service.join(GUILD, chapter.id, user)
    with pytest.raises(NotAllowed):
        await service.rotate(GUILD, chapter.id, actor_id=3, actor_is_organizer=False)
    facilitators: Counter[int] = Counter()
    note_takers: Counter[int] = Counter()
    for _ in range(10):
        result = await service.rotate(GUILD, chapter.id, actor_id=FOUNDER, actor_is_organizer=False)
        holders = {h.role: h.user_id for h in result.holders}
        assert holders["facilitator"] != holders["note-taker"]
        facilitators[holders["facilitator"]] += 1
        note_takers[holders["note-taker"]] += 1
    # two full cycles: everyone facilitated twice and took notes twice
    assert facilitators == Counter({u: 2 for u in range(1, 6)})
    assert note_takers == Counter({u: 2 for u in range(1, 6)})

    # the facilitator leaves: the note-taker steps up, nobody is skipped twice
    details = await service.details(GUILD, chapter.id)
    leaving = details.holder("facilitator")
    note_taker = details.holder("note-taker")
    assert leaving is not None
    await service.leave(GUILD, chapter.id, leaving)
    result = await service.rotate(GUILD, chapter.id)  # actor None: the bot, per meeting
    assert {h.role: h.user_id for h in result.holders}["facilitator"] == note_taker


async def test_rotation_with_one_member_and_opt_in(service: ChapterService) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    assert await service.rotate_if_enabled(GUILD, chapter.id) is None
    await service.set_rotation(GUILD, chapter.id, True, actor_id=FOUNDER, actor_is_organizer=False)
    result = await service.rotate_if_enabled(GUILD, chapter.id)
    assert result is not None
    assert {h.user_id for h in result.holders} == {FOUNDER}


# --------------------------------------------------------------------------- lookups


async def test_resolve_search_and_list(
    service: ChapterService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chicago = await service.propose(GUILD, FOUNDER, "Chicago")
    oakland = await service.propose(GUILD, 2, "Oakland")
    berlin = await service.propose(GUILD, 3, "Berlin", "Berlin Kiez")
    assert (await service.resolve(GUILD, str(chicago.id))).id == chicago.id
    assert (await service.resolve(GUILD, "chicago chapter")).id == chicago.id
    assert (await service.resolve(GUILD, "Oakland")).id == oakland.id
    assert (await service.resolve(GUILD, "Berlin, DE")).id == berlin.id
    with pytest.raises(NotFound, match="Did you mean Chicago Chapter"):
        await service.resolve(GUILD, "Chicgo Chapter")
    with pytest.raises(NotFound):
        await service.resolve(OTHER_GUILD, str(chicago.id))

    assert [c.id for c in await service.search(GUILD, "oak")] == [oakland.id]
    assert [c.id for c in await service.search(GUILD, "kiez")] == [berlin.id]
    assert len(await service.search(GUILD, "")) == 3

    assert {c.id for c in await service.list_chapters(GUILD, continent="EU")} == {berlin.id}
    assert {c.id for c in await service.list_chapters(GUILD, continent="north america")} == {
        chicago.id,
        oakland.id,
    }
    assert {c.id for c in await service.list_chapters(GUILD, region="California")} == {oakland.id}
    assert {c.id for c in await service.list_chapters(GUILD, region="US-IL")} == {chicago.id}
    async with sessions.begin() as session:
        session.add(
            OrganizerRegion(guild_id=GUILD, name="West Coast", country_code="US", region_code="CA")
        )
    assert {c.id for c in await service.list_chapters(GUILD, region="west coast")} == {oakland.id}
    await service.archive(GUILD, berlin.id, "test", ORGANIZER)
    assert {c.id for c in await service.list_chapters(GUILD)} == {chicago.id, oakland.id}
    archived = await service.list_chapters(GUILD, status=ChapterStatus.ARCHIVED)
    assert [c.id for c in archived] == [berlin.id]


async def test_search_returns_at_most_25(service: ChapterService, gazetteer: Gazetteer) -> None:
    cities = [
        "Chicago", "Oakland", "Boston", "Denver", "Austin", "Seattle", "Miami", "Atlanta",
        "Detroit", "Phoenix", "Dallas", "Houston", "Tucson", "Omaha", "Tulsa", "Fresno",
        "Albuquerque", "Baltimore", "Milwaukee", "Louisville", "Nashville", "Memphis",
        "Minneapolis", "Pittsburgh", "Cincinnati", "Cleveland", "Buffalo", "Honolulu",
    ]  # fmt: skip
    for index, city in enumerate(cities):
        await service.propose(GUILD, index + 1, gazetteer.suggest(city, 1)[0].label)
    assert len(await service.search(GUILD, "")) == 25
    assert len(await service.search(GUILD, "chapter")) == 25


def test_months_before() -> None:
    assert months_before(datetime(2026, 3, 31, 8, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 1) == datetime(2025, 12, 15, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )
    assert months_before(datetime(2024, 3, 30, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)


async def test_a_chapter_formal_before_meetings_were_required_gets_a_grace_month(
    service: ChapterService,
    settings: ChapterSettingsService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """Migration 0006 stamps ``meeting_grace_until`` on chapters formal under the relaxed default;
    until then a missing meeting does not put them at risk."""
    await settings.update(GUILD, meeting_months=0)
    chapter = await service.propose(GUILD, FOUNDER, "Chicago")
    await make_functioning(service, chapter.id)
    await service.assign_role(
        GUILD, chapter.id, "note-taker", 2, actor_id=FOUNDER, actor_is_organizer=False
    )
    assert (await service.get(GUILD, chapter.id)).status == ChapterStatus.FORMAL
    async with sessions.begin() as session:  # what the upgrade does
        row = await session.get(Chapter, chapter.id)
        assert row is not None
        row.meeting_grace_until = clock.now() + timedelta(days=31)
    await settings.update(GUILD, meeting_months=1)
    assert await service.evaluate_guild(GUILD) == []
    [meetings] = [
        c
        for c in (await service.details(GUILD, chapter.id)).criteria.results
        if c.key == "meetings"
    ]
    assert meetings.met and "grace period until" in meetings.detail
    clock.advance(timedelta(days=30))
    assert await service.evaluate_guild(GUILD) == []
    clock.advance(timedelta(days=2))
    [at_risk] = await service.evaluate_guild(GUILD)
    assert at_risk.to_status == ChapterStatus.AT_RISK and "meeting" in at_risk.reason
