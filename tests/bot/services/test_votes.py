"""Votes against a real SQLite database: creating, the electorate, ballots, closing, privacy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.clock import FakeClock
from bot.errors import Conflict, InvalidInput, NotAllowed
from bot.services.effects import EffectService
from bot.services.markers import BEHIND, MarkerProgress, MarkersReport
from bot.services.tally import Method, Outcome
from bot.services.timers import TimerService
from bot.services.votes import (
    CLOSE_EVENT,
    NUDGE_EVENT,
    MemberFacts,
    ReactionEvent,
    VoteDraft,
    VoteService,
    contingency_template,
    parse_options,
    parse_when,
    results_csv,
    voter_key,
)
from db.models import (
    Chapter,
    ChapterMember,
    ChapterStatus,
    ElectorateKind,
    MarkerKind,
    ReminderPreference,
    VoteBallot,
    VoteEvent,
    VoteStatus,
)
from db.session import Sessions

GUILD = 1
CHANNEL = 10
ORGANIZER = 99


@pytest.fixture
def votes(sessions: Sessions, clock: FakeClock) -> VoteService:
    return VoteService(
        sessions, clock, TimerService(sessions, clock), EffectService(sessions, clock)
    )


def members(
    *ids: int, joined_days_ago: int = 100, roles: frozenset[int] = frozenset()
) -> list[MemberFacts]:
    joined = datetime(2026, 1, 1, 12, tzinfo=UTC) - timedelta(days=joined_days_ago)
    return [MemberFacts(user_id=i, joined_at=joined, role_ids=roles) for i in ids]


async def opened(votes: VoteService, draft: VoteDraft, voters: list[MemberFacts]) -> int:
    info = await votes.create(GUILD, CHANNEL, ORGANIZER, draft)
    await votes.open(info.id, voters)
    return info.id


def test_parse_options_refuses_bad_lists() -> None:
    assert parse_options(" a ;b;; c ") == ["a", "b", "c"]
    with pytest.raises(InvalidInput, match="at least 2"):
        parse_options("only one")
    with pytest.raises(InvalidInput, match="twice"):
        parse_options("Yes; no; YES")
    with pytest.raises(InvalidInput, match="at most 20"):
        parse_options(";".join(str(i) for i in range(21)))
    with pytest.raises(InvalidInput, match="keep each option"):
        parse_options("a;" + "x" * 81)


def test_parse_when_durations_and_local_dates() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_when("30m", now, "UTC") == now + timedelta(minutes=30)
    assert parse_when("1d12h", now, "UTC") == now + timedelta(days=1, hours=12)
    assert parse_when("2026-03-10 09:00", now, "Europe/Berlin") == datetime(
        2026, 3, 10, 8, tzinfo=UTC
    )
    with pytest.raises(InvalidInput, match="neither a duration"):
        parse_when("next tuesday", now, "UTC")


def test_draft_refuses_bad_input(votes: VoteService) -> None:
    def draft(**kwargs: object) -> VoteDraft:
        args: dict[str, object] = {
            "title": "Pick",
            "options": "a; b; c",
            "method": "single",
            "closes": "2d",
            "timezone": "UTC",
        }
        args.update(kwargs)
        return votes.draft(**args)  # type: ignore[arg-type]

    assert draft().options == ("a", "b", "c")
    for kwargs, message in [
        ({"closes": "2025-01-01"}, "in the past"),
        ({"closes": "91d"}, "at most 90 days"),
        ({"method": "approval", "seats": 3}, "elects everyone"),
        ({"method": "single", "seats": 2}, "approval"),
        ({"method": "plurality"}, "single, approval, ranked or consent"),
        ({"title": "x" * 201}, "200 characters"),
        ({"options": None}, "List the options"),
        ({"quorum": 0}, "percentage"),
        ({"method": "consent"}, "fixed answers"),
        ({"closes": "1m"}, "at least 5 minutes"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            draft(**kwargs)
    consent = draft(method="consent", options="")
    assert consent.options == ("Agree", "Abstain", "Disagree", "Block")


async def test_single_vote_replace_withdraw_and_results(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    draft = votes.draft(
        title="Colour", options="red;green", method="single", closes="1d", timezone="UTC"
    )
    vote_id = await opened(votes, draft, members(1, 2, 3))
    first = await votes.react(vote_id, 1, 0, added=True)
    assert (first.previous, first.choice) == ((), (0,))
    replaced = await votes.react(vote_id, 1, 1, added=True)
    assert replaced.previous == (0,) and replaced.choice == (1,)
    # the bot removing the old reaction must not withdraw the new choice
    assert (await votes.react(vote_id, 1, 0, added=False)).choice == (1,)
    await votes.react(vote_id, 2, 1, added=True)
    await votes.react(vote_id, 3, 0, added=True)
    assert (await votes.react(vote_id, 3, 0, added=False)).choice == ()
    with pytest.raises(NotAllowed, match="not in the electorate"):
        await votes.react(vote_id, 4, 0, added=True)
    assert await votes.turnout(vote_id) == (2, 3)
    assert await votes.non_voters(vote_id) == [3]
    results, first_close = await votes.close(vote_id)
    assert first_close
    assert results.decision.outcome is Outcome.CHOSEN
    assert results.winners_text() == "green"
    assert results.count_lines()[1] == "green: 2 votes (100.0%)"
    again, second_close = await votes.close(vote_id)
    assert not second_close and again.decision == results.decision
    with pytest.raises(Conflict, match="closed"):
        await votes.react(vote_id, 2, 0, added=True)
    actions = [action for _, action, _, _ in await votes.audit(vote_id)]
    assert actions.count("cast") == 3 and "changed" in actions and "withdrawn" in actions
    assert actions[-1] == "closed"
    exported = list(csv.reader(io.StringIO(results_csv(results))))
    assert ["green", "2", "100.0"] in exported


async def test_electorate_snapshot_role_chapter_min_days_and_add_voter(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    role = 555
    voters = members(1, 2, roles=frozenset({role})) + members(3) + members(4, joined_days_ago=1)
    by_role = votes.draft(
        title="R",
        options="a;b",
        method="approval",
        closes="1d",
        timezone="UTC",
        electorate=ElectorateKind.ROLE,
        electorate_id=role,
        min_days=0,
    )
    role_vote = await opened(votes, by_role, voters)
    assert await votes.turnout(role_vote) == (0, 2)
    old_enough = votes.draft(
        title="M", options="a;b", method="single", closes="1d", timezone="UTC", min_days=30
    )
    min_vote = await opened(votes, old_enough, voters)
    assert await votes.turnout(min_vote) == (0, 3)  # member 4 joined yesterday
    with pytest.raises(NotAllowed):
        await votes.cast(min_vote, 4, (0,))
    assert await votes.add_voter(min_vote, GUILD, 4, ORGANIZER)
    assert not await votes.add_voter(min_vote, GUILD, 4, ORGANIZER)
    assert (await votes.cast(min_vote, 4, (0,))).choice == (0,)
    async with sessions.begin() as session:
        chapter = Chapter(
            guild_id=GUILD,
            name="Lyon",
            name_key="lyon",
            geoname_id=1,
            city_label="Lyon",
            region_code="FR.84",
            country_code="FR",
            continent_code="EU",
            timezone="Europe/Paris",
            status=ChapterStatus.FORMAL,
            created_by=1,
            created_at=clock.now(),
            status_changed_at=clock.now(),
        )
        session.add(chapter)
        await session.flush()
        session.add_all(
            ChapterMember(chapter_id=chapter.id, user_id=u, joined_at=clock.now())
            for u in (2, 3, 7)
        )
        chapter_id = chapter.id
    by_chapter = votes.draft(
        title="C",
        options="a;b",
        method="single",
        closes="1d",
        timezone="UTC",
        electorate=ElectorateKind.CHAPTER,
        electorate_id=chapter_id,
    )
    chapter_vote = await opened(votes, by_chapter, voters)
    assert await votes.turnout(chapter_vote) == (0, 2)  # 7 is no longer in the server


async def test_secret_ranked_election_keeps_no_link_after_close(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    draft = votes.draft(
        title="Delegates",
        options=None,
        method="ranked",
        closes="3d",
        timezone="UTC",
        secret=True,
        seats=2,
        kind="election",
    )
    info = await votes.create(GUILD, CHANNEL, ORGANIZER, draft)
    assert info.status is VoteStatus.NOMINATING
    assert await votes.nominate(info.id, GUILD, 1, "Ada", by=1)  # self: accepted at once
    assert await votes.nominate(info.id, GUILD, 2, "Bo", by=1)
    assert await votes.nominate(info.id, GUILD, 3, "Cy", by=1)
    await votes.accept(info.id, 2)
    assert await votes.nominations(info.id) == [(1, "Ada", True), (2, "Bo", True), (3, "Cy", False)]
    await votes.accept(info.id, 3)
    ready = await votes.close_nominations(info.id)
    assert ready.options == ("Ada", "Bo", "Cy") and ready.candidate_ids == (1, 2, 3)
    with pytest.raises(Conflict, match="closed"):
        await votes.nominate(info.id, GUILD, 4, "Di", by=4)
    await votes.open(info.id, members(*range(1, 11)))
    for user, ranking in [
        (1, (0, 1)),
        (2, (1, 0)),
        (3, (2, 1)),
        (4, (0, 2)),
        (5, (1, 2)),
        (6, (0,)),
    ]:
        await votes.cast(info.id, user, ranking)
    changed = await votes.cast(info.id, 6, (2, 0))
    assert changed.previous == (0,) and changed.choice == (2, 0)
    assert await votes.ballot_of(info.id, 6) == (2, 0)
    with pytest.raises(InvalidInput, match="at most once"):
        await votes.cast(info.id, 7, (1, 1))
    async with sessions() as session:
        ballots = (
            await session.scalars(select(VoteBallot).where(VoteBallot.vote_id == info.id))
        ).all()
        assert all(b.updated_at is None for b in ballots)
        assert not any(b.voter_key in {str(u) for u in range(1, 11)} for b in ballots)
        events = (
            await session.scalars(select(VoteEvent).where(VoteEvent.vote_id == info.id))
        ).all()
        assert not any(e.action in ("cast", "changed") for e in events)
    results, _ = await votes.close(info.id)
    assert results.decision.outcome is Outcome.ELECTED
    assert len(results.decision.winners) == 2
    assert results.tally.quota == 3  # 6 ballots, 2 seats
    assert "R1" in results.rounds_table()
    async with sessions() as session:
        salt = await session.scalar(text("SELECT salt FROM vote WHERE id = :id"), {"id": info.id})
        assert salt is None  # the hashes can no longer be recomputed from member ids
        keys = set(await session.scalars(select(VoteBallot.voter_key)))
    assert voter_key(None, info.id, 6) not in keys


async def test_consent_block_needs_reason_and_blocks(votes: VoteService) -> None:
    draft = votes.draft(title="Adopt", options="", method="consent", closes="1d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1, 2, 3))
    await votes.cast(vote_id, 1, (0,))
    with pytest.raises(InvalidInput, match="needs a reason"):
        await votes.cast(vote_id, 2, (3,))
    await votes.cast(vote_id, 2, (3,), reason="Not before the budget")
    results, _ = await votes.close(vote_id)
    assert results.decision.outcome is Outcome.BLOCKED


async def test_quorum_extend_close_early_and_outcome(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    timers = TimerService(sessions, clock)
    draft = votes.draft(
        title="Q", options="a;b", method="single", closes="1d", timezone="UTC", quorum=50
    )
    vote_id = await opened(votes, draft, members(1, 2, 3, 4))
    await votes.cast(vote_id, 1, (0,))
    close_timer = await timers.get_by_key(f"vote:{vote_id}:close")
    assert close_timer is not None and close_timer.event == CLOSE_EVENT
    with pytest.raises(InvalidInput, match="later than"):
        await votes.extend(vote_id, GUILD, "2026-01-01 00:00", ORGANIZER, "more time", "UTC")
    with pytest.raises(InvalidInput, match="reason"):
        await votes.extend(vote_id, GUILD, "1d", ORGANIZER, " ", "UTC")
    extended = await votes.extend(vote_id, GUILD, "1d", ORGANIZER, "holidays", "UTC")
    assert extended.closes_at == clock.now() + timedelta(days=2)
    moved = await timers.get_by_key(f"vote:{vote_id}:close")
    assert moved is not None and moved.expires == extended.closes_at
    with pytest.raises(Conflict, match="after the vote closes"):
        await votes.set_outcome(vote_id, GUILD, "We do a", ORGANIZER)
    results, _ = await votes.close(vote_id, by=ORGANIZER, reason="decided at the meeting")
    assert results.decision.outcome is Outcome.NO_QUORUM
    assert "quorum 50% not met" in results.turnout_line()
    assert results.vote.close_reason == "decided at the meeting"
    cancelled = await timers.get_by_key(f"vote:{vote_id}:close")
    assert cancelled is not None and cancelled.status == "cancelled"
    stated = await votes.set_outcome(vote_id, GUILD, "We wait for more members", ORGANIZER)
    assert stated.outcome_statement == "We wait for more members"


async def test_reconcile_counts_offline_votes_once_and_removes_extras(votes: VoteService) -> None:
    draft = votes.draft(title="S", options="a;b;c", method="single", closes="1d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1, 2, 3, 4))
    await votes.react(vote_id, 1, 0, added=True)
    await votes.react(vote_id, 2, 1, added=True)  # removed while the bot was away
    seen = {0: {1, 3, 9}, 2: {1, 4}, 1: {4}}
    outcome = await votes.reconcile(vote_id, seen)
    assert (outcome.cast, outcome.withdrawn) == (2, 1)
    assert outcome.ineligible == (9,)
    assert set(outcome.remove) == {(0, 9), (2, 1), (2, 4)}
    assert await votes.ballot_of(vote_id, 1) == (0,)
    assert await votes.ballot_of(vote_id, 4) == (1,)
    assert await votes.ballot_of(vote_id, 2) == ()
    again = await votes.reconcile(vote_id, {0: {1, 3}, 1: {4}})
    assert (again.cast, again.withdrawn) == (0, 0)
    assert await votes.turnout(vote_id) == (3, 4)


async def test_approval_toggles(votes: VoteService) -> None:
    draft = votes.draft(title="A", options="a;b;c", method="approval", closes="1d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1))
    await votes.react(vote_id, 1, 2, added=True)
    await votes.react(vote_id, 1, 0, added=True)
    assert (await votes.react(vote_id, 1, 2, added=False)).choice == (0,)
    results = await votes.results(vote_id)
    assert results.tally.counts == (1, 0, 0)
    assert not results.final


async def test_contingency_template_from_markers_behind(clock: FakeClock) -> None:
    behind = MarkerProgress(
        kind=MarkerKind.FORMAL_CHAPTERS,
        current=4,
        target=20,
        deadline=datetime(2026, 6, 1, tzinfo=UTC),
        pace_per_day=0.01,
        projected=datetime(2027, 3, 1, tzinfo=UTC),
        status=BEHIND,
        history=(),
    )
    report = MarkersReport(GUILD, clock.now(), (behind,), affiliates=0, lead_days=90)
    title, description, options = contingency_template(report)
    assert "4 of 20 by 2026-06-01 (projected 2027-03-01)" in description
    assert options[2].endswith("(to 2026-11-30)")
    assert len(options) == 3 and title


async def test_unopposed_election(votes: VoteService) -> None:
    draft = votes.draft(
        title="E",
        options=None,
        method="ranked",
        closes="3d",
        timezone="UTC",
        seats=1,
        kind="election",
    )
    info = await votes.create(GUILD, CHANNEL, ORGANIZER, draft)
    await votes.nominate(info.id, GUILD, 5, "Eve", by=5)
    ready = await votes.close_nominations(info.id)
    assert len(ready.options) <= ready.seats
    results = await votes.close_unopposed(info.id)
    assert results.decision.outcome is Outcome.ELECTED and results.winners_text() == "Eve"
    assert Method.RANKED is results.vote.method


async def test_react_many_in_order_with_refusals_and_one_dm_per_outsider(
    votes: VoteService, sessions: Sessions
) -> None:
    draft = votes.draft(title="B", options="a;b", method="single", closes="1d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1, 2))
    outcomes = await votes.react_many(
        vote_id,
        [
            ReactionEvent(1, 0, added=True),
            ReactionEvent(1, 1, added=True),
            ReactionEvent(1, 0, added=False),  # the bot removing the replaced reaction
            ReactionEvent(2, 1, added=True),
            ReactionEvent(9, 0, added=True),
            ReactionEvent(9, 1, added=True),
        ],
    )
    assert [o.choice for o in outcomes[:4]] == [(0,), (1,), (1,), (1,)]
    assert outcomes[1].previous == (0,)
    assert outcomes[4].refused and "not in the electorate" in outcomes[4].refused
    assert await votes.turnout(vote_id) == (2, 2)
    async with sessions() as session:
        dms = (await session.execute(text("SELECT dedupe_key FROM discord_effect"))).scalars().all()
    assert dms == [f"vote:{vote_id}:ineligible:9"]


async def test_one_nudge_to_non_voters_moved_by_extend(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    timers = TimerService(sessions, clock)
    draft = votes.draft(title="N", options="a;b", method="single", closes="3d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1, 2, 3))
    nudge = await timers.get_by_key(f"vote:{vote_id}:nudge")
    assert nudge is not None and nudge.event == NUDGE_EVENT
    assert nudge.expires == clock.now() + timedelta(days=2)
    await votes.attach_message(vote_id, 12345)
    await votes.cast(vote_id, 1, (0,))
    async with sessions.begin() as session:
        session.add(
            ReminderPreference(guild_id=GUILD, user_id=4, enabled=False, updated_at=clock.now())
        )
    assert await votes.add_voter(vote_id, GUILD, 4, ORGANIZER)
    assert await votes.nudge(vote_id) == 2  # not member 4, who turned reminders off
    extended = await votes.extend(vote_id, GUILD, "2d", ORGANIZER, "more time", "UTC")
    moved = await timers.get_by_key(f"vote:{vote_id}:nudge")
    assert moved is not None and moved.expires == extended.closes_at - timedelta(hours=24)
    await votes.nudge(vote_id)  # fired again after the extension: nobody gets a second one
    async with sessions() as session:
        keys = (
            (await session.execute(text("SELECT dedupe_key FROM discord_effect"))).scalars().all()
        )
    assert sorted(keys) == [f"vote:{vote_id}:nudge:2", f"vote:{vote_id}:nudge:3"]


@pytest.mark.parametrize("vote_id", [0, -1, 2**31, 99999999999999999999])
async def test_vote_ids_from_custom_ids_are_range_checked(votes: VoteService, vote_id: int) -> None:
    """A crafted button id (vote:ballot:99999999999999999999) is a short answer, not an
    OverflowError from the database driver."""
    with pytest.raises(InvalidInput, match="no vote number"):
        await votes.get(vote_id)
    with pytest.raises(InvalidInput, match="no vote number"):
        await votes.close(vote_id, by=1, reason="test")


async def test_nudge_waits_for_quiet_hours_and_is_dropped_if_the_vote_closes_first(
    votes: VoteService, clock: FakeClock, sessions: Sessions
) -> None:
    """/reminders quiet hours hold a nudge until they end (12:00 UTC is 13:00 in Berlin)."""
    draft = votes.draft(title="Q", options="a;b", method="single", closes="3d", timezone="UTC")
    vote_id = await opened(votes, draft, members(1, 2, 3))
    await votes.attach_message(vote_id, 12345)
    async with sessions.begin() as session:
        session.add_all(
            [  # member 2: quiet 12:30-15:00 Berlin; member 3: quiet 22:00-07:00 Berlin
                ReminderPreference(
                    guild_id=GUILD,
                    user_id=2,
                    quiet_start=12 * 60 + 30,
                    quiet_end=15 * 60,
                    timezone="Europe/Berlin",
                    updated_at=clock.now(),
                ),
                ReminderPreference(
                    guild_id=GUILD,
                    user_id=3,
                    quiet_start=22 * 60,
                    quiet_end=7 * 60,
                    timezone="Europe/Berlin",
                    updated_at=clock.now(),
                ),
            ]
        )
    assert await votes.nudge(vote_id) == 3
    async with sessions() as session:
        rows = dict(
            (
                await session.execute(
                    text("SELECT dedupe_key, next_attempt_at FROM discord_effect")
                )
            ).all()
        )
    due = {key.rsplit(":", 1)[1]: str(when) for key, when in rows.items()}
    assert due["1"].startswith("2026-01-01 12:00")  # not in quiet hours: now
    assert due["2"].startswith("2026-01-01 14:00")  # 15:00 Berlin, when quiet hours end
    assert due["3"].startswith("2026-01-01 12:00")  # 13:00 Berlin is outside 22:00-07:00

    short = votes.draft(title="S", options="a;b", method="single", closes="1h", timezone="UTC")
    short_id = await opened(votes, short, members(2, 4))
    await votes.attach_message(short_id, 12346)
    assert await votes.nudge(short_id) == 1  # member 2's quiet hours outlast the vote
