"""Counting: published worked examples, the outcome rules, and properties of every count."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.tally import (
    Consent,
    Method,
    Outcome,
    decide,
    round_table,
    tally,
)


def test_instant_runoff_tennessee_capital() -> None:
    """Wikipedia, "Instant-runoff voting", the Tennessee capital example (42/26/15/17 per 100).

    Chattanooga is excluded first, then Nashville; Knoxville wins 58 to 42 although Memphis led
    the first preferences.
    """
    memphis, nashville, chattanooga, knoxville = range(4)
    ballots = (
        [(memphis, nashville, chattanooga, knoxville)] * 42
        + [(nashville, chattanooga, knoxville, memphis)] * 26
        + [(chattanooga, knoxville, nashville, memphis)] * 15
        + [(knoxville, chattanooga, nashville, memphis)] * 17
    )
    result = tally(Method.RANKED, 4, ballots)
    assert result.winners == (knoxville,)
    assert [r.excluded for r in result.rounds] == [(chattanooga,), (nashville,), ()]
    assert result.rounds[-1].tallies == (42, None, None, 58)
    assert result.counts == (42, 26, 15, 17)
    assert decide(result, electorate=100).outcome is Outcome.ELECTED


def test_stv_food_election() -> None:
    """Wikipedia, "Single transferable vote", the food election: 20 guests, 3 seats, Droop quota 6.

    Chocolate is elected at once and its surplus of 6 moves on at half weight (8 ballots to
    Strawberries, 4 to Hamburgers); Pears is excluded, which elects Oranges with exactly the quota;
    Hamburgers is excluded and Strawberries takes the last seat.
    """
    oranges, pears, chocolate, strawberries, hamburgers = range(5)
    ballots = (
        [(oranges,)] * 4
        + [(pears, oranges)] * 2
        + [(chocolate, strawberries)] * 8
        + [(chocolate, hamburgers)] * 4
        + [(strawberries,)]
        + [(hamburgers,)]
    )
    result = tally(Method.RANKED, 5, ballots, seats=3)
    assert result.quota == 6
    assert result.winners == (chocolate, oranges, strawberries)
    second = result.rounds[1]
    assert second.tallies == (4, 2, 6, 5, 3)
    assert second.excluded == (pears,)
    assert result.rounds[2].elected == (oranges,)
    assert result.rounds[2].excluded == (hamburgers,)
    assert result.rounds[-1].exhausted == 3  # the hamburger-only ballot and 4 at half weight
    table = round_table(result, ["Oranges", "Pears", "Chocolate", "Strawberries", "Hamburgers"])
    assert "Chocolate            12*" in table
    assert "Pears                  2      2x" in table


def test_stv_fractional_surplus_exact() -> None:
    """A surplus of 1 from 7 votes moves on at weight 1/7 each, exactly."""
    ballots = [(0, 1)] * 7 + [(1,)] * 2 + [(2,)] * 3 + [(3,)] * 3
    result = tally(Method.RANKED, 4, ballots, seats=2)
    assert result.quota == 6
    assert result.rounds[1].tallies[1] == 3
    assert result.winners[0] == 0


def test_ties_use_earlier_rounds_then_the_lot() -> None:
    # 0 and 1 tie for last with no earlier round: the lot excludes whichever comes last in it.
    ballots = [(0,), (1,), (2,), (2,)]
    assert tally(Method.RANKED, 3, ballots, lot=[0, 1, 2]).rounds[0].excluded == (1,)
    result = tally(Method.RANKED, 3, ballots, lot=[1, 0, 2])
    assert result.rounds[0].excluded == (0,)
    assert result.by_lot and result.rounds[0].by_lot
    # 1 and 2 tie in round 2 after 0 is excluded; round 1 had 2 behind 1, so 2 goes.
    ballots = [(0, 2)] + [(1,)] * 4 + [(2,)] * 3 + [(3,)] * 6 + [(4,)] * 5
    result = tally(Method.RANKED, 5, ballots)
    assert result.rounds[0].excluded == (0,)
    assert result.rounds[1].tallies[1] == result.rounds[1].tallies[2] == 4
    assert result.rounds[1].excluded == (2,)
    assert not result.rounds[1].by_lot


def test_single_and_approval_counts_and_ties() -> None:
    single = tally(Method.SINGLE, 3, [(0,), (1,), (1,), (2,)])
    assert single.counts == (1, 2, 1)
    assert single.winners == (1,)
    assert single.percent(1) == 50.0
    tie = tally(Method.SINGLE, 3, [(0,), (1,)])
    assert tie.winners == () and tie.tied == (0, 1)
    assert decide(tie, electorate=5).outcome is Outcome.TIE
    approval = tally(Method.APPROVAL, 3, [(0, 1), (1, 0, 1), (2,)], seats=2)
    assert approval.counts == (2, 2, 1)
    assert approval.winners == (0, 1)
    assert decide(approval, electorate=3).outcome is Outcome.ELECTED
    with pytest.raises(ValueError, match="one choice"):
        tally(Method.SINGLE, 3, [(0, 1)])
    with pytest.raises(ValueError, match="not on the ballot"):
        tally(Method.APPROVAL, 3, [(5,)])


def test_quorum_and_threshold() -> None:
    result = tally(Method.SINGLE, 2, [(0,)] * 6 + [(1,)] * 4)
    no_quorum = decide(result, electorate=40, quorum=30)
    assert no_quorum.outcome is Outcome.NO_QUORUM
    assert "quorum needed 12" in no_quorum.explanation
    assert decide(result, electorate=40, quorum=25).outcome is Outcome.CHOSEN
    failed = decide(result, electorate=10, threshold=66)
    assert failed.outcome is Outcome.FAILED and failed.winners == ()
    chosen = decide(result, electorate=10, threshold=60)
    assert chosen.outcome is Outcome.CHOSEN and chosen.winners == (0,)
    assert chosen.turnout_percent == 100.0
    assert decide(tally(Method.SINGLE, 2, []), electorate=4).outcome is Outcome.NO_VOTES


def test_consent_block_blocks_and_threshold() -> None:
    agree, abstain, disagree, block = (
        (Consent.AGREE,),
        (Consent.ABSTAIN,),
        (Consent.DISAGREE,),
        (Consent.BLOCK,),
    )
    blocked = tally(Method.CONSENT, 4, [agree] * 9 + [block])
    assert decide(blocked, electorate=10).outcome is Outcome.BLOCKED
    passed = tally(Method.CONSENT, 4, [agree] * 3 + [abstain] * 5 + [disagree] * 2)
    assert decide(passed, electorate=10).outcome is Outcome.PASSED
    assert decide(passed, electorate=10, threshold=75).outcome is Outcome.FAILED
    even = tally(Method.CONSENT, 4, [agree, disagree])
    assert decide(even, electorate=2).outcome is Outcome.FAILED
    with pytest.raises(ValueError, match="four consent options"):
        tally(Method.CONSENT, 3, [agree])


rankings = st.integers(min_value=2, max_value=6).flatmap(
    lambda options: st.tuples(
        st.just(options),
        st.lists(st.lists(st.integers(0, options - 1), min_size=0, max_size=options), max_size=40),
        st.integers(min_value=1, max_value=options),
    )
)


@settings(max_examples=150, deadline=None)
@given(rankings, st.randoms(use_true_random=False))
def test_ranked_properties(case: tuple[int, list[list[int]], int], rng: random.Random) -> None:
    options, ballots, seats = case
    result = tally(Method.RANKED, options, ballots, seats=seats)
    counted = sum(1 for ballot in ballots if ballot)
    assert result.ballots == counted
    assert sum(result.counts) == counted
    for stage in result.rounds:
        held = sum((value for value in stage.tallies if value is not None), Fraction(0))
        assert held + stage.exhausted == counted  # totals conserved, nothing counted twice
        assert all(value is None or value >= 0 for value in stage.tallies)
    assert len(set(result.winners)) == len(result.winners) <= seats
    if seats > 1:
        assert len(result.winners) == seats
        assert result.quota == counted // (seats + 1) + 1
    shuffled = list(ballots)
    rng.shuffle(shuffled)
    assert tally(Method.RANKED, options, shuffled, seats=seats) == result


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=2, max_value=8).flatmap(
        lambda options: st.tuples(
            st.just(options),
            st.lists(st.lists(st.integers(0, options - 1), max_size=options), max_size=40),
        )
    ),
    st.randoms(use_true_random=False),
)
def test_approval_and_single_properties(
    case: tuple[int, list[list[int]]], rng: random.Random
) -> None:
    options, ballots = case
    approval = tally(Method.APPROVAL, options, ballots)
    assert all(count <= approval.ballots for count in approval.counts)
    assert sum(approval.counts) == sum(len(set(ballot)) for ballot in ballots)
    singles = [ballot[:1] for ballot in ballots]
    single = tally(Method.SINGLE, options, singles)
    assert sum(single.counts) == single.ballots == sum(1 for ballot in singles if ballot)
    rng.shuffle(ballots)
    assert tally(Method.APPROVAL, options, ballots) == approval
