"""Counting ballots: pure functions, no database and no Discord.

A ballot is a tuple of option indexes: one index for ``single`` and ``consent``, a set for
``approval`` (order ignored, duplicates counted once), a ranking for ``ranked`` (first = most
preferred; later repeats of an option are ignored).

Ranked counting:
- one seat: instant runoff. Each round every ballot counts for its highest-ranked continuing
  option; an option with more than half of the continuing ballots wins, otherwise the option with
  the fewest votes is excluded.
- several seats: single transferable vote with the Droop quota ``floor(valid / (seats + 1)) + 1``
  and the Weighted Inclusive Gregory Method: when a candidate reaches the quota, *all* their
  ballots move on to the next continuing preference at ``weight * surplus / candidate's votes``
  (largest surplus first, one per round); when nobody reaches it, the lowest candidate is excluded
  and their ballots move on at their current weight. Arithmetic is exact (fractions); the Scottish
  local-government rules use the same transfers but truncate weights to five decimals. When as
  many candidates remain as seats are left, they are all elected.

Ties (the lowest to exclude, or the order of several elected at once) are broken by the counts at
the most recent earlier round where the tied options differed, then by ``lot``: an order of the
options fixed before counting (the service derives it from the vote's id, so anyone can redo it).
The lot excludes the option that comes last in it. Ballot order never matters.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

Ballot = tuple[int, ...]


class Method(enum.StrEnum):
    SINGLE = "single"
    APPROVAL = "approval"
    RANKED = "ranked"
    CONSENT = "consent"


class Consent(enum.IntEnum):
    """The fixed options of a consent vote, in ballot-index order."""

    AGREE = 0
    ABSTAIN = 1
    DISAGREE = 2
    BLOCK = 3


CONSENT_LABELS: tuple[str, ...] = ("Agree", "Abstain", "Disagree", "Block")


class Outcome(enum.StrEnum):
    CHOSEN = "chosen"  # single/approval, one seat: the leading option (over the threshold, if any)
    ELECTED = "elected"  # several seats, or a ranked count
    PASSED = "passed"  # consent
    FAILED = "failed"  # consent not agreed, or the leader under the threshold
    BLOCKED = "blocked"  # consent with at least one block
    NO_QUORUM = "no quorum"
    TIE = "tie"  # single/approval: the last seat is shared by equal counts
    NO_VOTES = "no votes"


@dataclass(frozen=True, slots=True)
class Round:
    """One stage of a count: the votes each option holds after ``note`` happened.

    ``tallies[i]`` is ``None`` once option ``i`` is excluded; an elected candidate keeps the quota.
    """

    number: int
    note: str
    tallies: tuple[Fraction | None, ...]
    exhausted: Fraction
    elected: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()
    by_lot: bool = False


@dataclass(frozen=True, slots=True)
class Tally:
    method: Method
    seats: int
    ballots: int  # ballots that count (an empty ballot does not)
    counts: tuple[Fraction, ...]  # per option: votes (ranked: first preferences)
    winners: tuple[int, ...]  # in the order they were chosen or elected
    tied: tuple[int, ...] = ()  # single/approval only: options sharing the last seat
    rounds: tuple[Round, ...] = ()
    quota: int | None = None
    by_lot: bool = False  # a tie was settled by the lot

    def percent(self, option: int) -> float:
        """The option's share of counted ballots (first preferences for ranked)."""
        return float(self.counts[option] * 100 / self.ballots) if self.ballots else 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    winners: tuple[int, ...]
    turnout: int  # ballots cast (including empty ones)
    electorate: int
    quorum_met: bool
    explanation: str

    @property
    def turnout_percent(self) -> float:
        return self.turnout * 100 / self.electorate if self.electorate else 0.0


@dataclass(slots=True)
class _Ranking:
    """Mutable state of a ranked count."""

    ballots: Sequence[Ballot]
    options: int
    lot_rank: Mapping[int, int]
    hopeful: set[int]
    history: list[Round] = field(default_factory=list)
    by_lot: bool = False


def tally(
    method: Method | str,
    options: int,
    ballots: Sequence[Sequence[int]],
    *,
    seats: int = 1,
    lot: Sequence[int] | None = None,
) -> Tally:
    """Count ``ballots`` over ``options`` options (indexes ``0 .. options-1``)."""
    method = Method(method)
    if options < 1:
        raise ValueError("a vote needs at least one option")
    if seats < 1:
        raise ValueError("seats must be at least 1")
    clean = [_clean(method, options, ballot) for ballot in ballots]
    order = list(lot) if lot is not None else list(range(options))
    if sorted(order) != list(range(options)):
        raise ValueError("lot must be an order of all the options")
    lot_rank = {option: rank for rank, option in enumerate(order)}
    if method is Method.RANKED:
        return _ranked(clean, options, seats, lot_rank)
    counted = [ballot for ballot in clean if ballot]
    counts = [Fraction(0)] * options
    for ballot in counted:
        for option in ballot:
            counts[option] += 1
    if method is Method.CONSENT:
        return Tally(method, 1, len(counted), tuple(counts), winners=())
    winners, tied = _top(counts, seats)
    return Tally(method, seats, len(counted), tuple(counts), winners=winners, tied=tied)


def decide(
    result: Tally,
    *,
    cast: int | None = None,
    electorate: int,
    quorum: int | None = None,
    threshold: int | None = None,
) -> Decision:
    """The outcome of a counted vote: quorum first, then the method's rule.

    ``quorum`` and ``threshold`` are percentages. Quorum compares ballots cast (``cast``, default
    the counted ones) with the electorate. Threshold: for ``single``/``approval`` the leading
    option's share of counted ballots must reach it; for ``consent`` the agreeing share of those
    who agreed or disagreed must reach it (without one, more agree than disagree); a single block
    blocks. Ranked counts elect by their own rule and ignore the threshold.
    """
    turnout = result.ballots if cast is None else cast
    quorum_met = quorum is None or turnout * 100 >= quorum * electorate
    if not quorum_met:
        needed = -(-quorum * electorate // 100) if quorum is not None else 0
        return Decision(
            Outcome.NO_QUORUM,
            (),
            turnout,
            electorate,
            False,
            f"{turnout} of {electorate} voted; the quorum needed {needed}.",
        )
    if result.ballots == 0:
        return Decision(Outcome.NO_VOTES, (), turnout, electorate, True, "Nobody voted.")
    if result.method is Method.CONSENT:
        return _consent(result, turnout, electorate, threshold)

    def decision(outcome: Outcome, explanation: str) -> Decision:
        winners = result.winners if outcome in (Outcome.CHOSEN, Outcome.ELECTED) else ()
        return Decision(outcome, winners, turnout, electorate, True, explanation)

    if result.method is Method.RANKED or result.seats > 1:
        if len(result.winners) < result.seats and result.tied:
            return decision(Outcome.TIE, "Equal counts for the last seat.")
        return decision(Outcome.ELECTED, "")
    if result.tied:
        return decision(Outcome.TIE, "The leading options have equal counts.")
    if not result.winners:
        return decision(Outcome.NO_VOTES, "Nobody voted.")
    leader = result.winners[0]
    if threshold is not None and result.counts[leader] * 100 < threshold * result.ballots:
        return decision(
            Outcome.FAILED,
            f"The leading option has {result.percent(leader):.1f}%; {threshold}% was needed.",
        )
    return decision(Outcome.CHOSEN, "")


def _consent(result: Tally, turnout: int, electorate: int, threshold: int | None) -> Decision:
    agree, _, disagree, block = (int(count) for count in result.counts)

    def decision(outcome: Outcome, explanation: str) -> Decision:
        return Decision(outcome, (), turnout, electorate, True, explanation)

    if block:
        return decision(Outcome.BLOCKED, f"{block} block{'s' if block != 1 else ''}.")
    if threshold is None:
        passed = agree > disagree
        rule = "more agree than disagree"
    else:
        passed = agree + disagree > 0 and agree * 100 >= threshold * (agree + disagree)
        rule = f"{threshold}% of those who agreed or disagreed"
    explanation = f"{agree} agree, {disagree} disagree; needed {rule}."
    return decision(Outcome.PASSED if passed else Outcome.FAILED, explanation)


def _clean(method: Method, options: int, ballot: Sequence[int]) -> Ballot:
    """The ballot without repeats or unknown options; single/consent keep only one choice."""
    for option in ballot:
        if not 0 <= option < options:
            raise ValueError(f"option {option} is not on the ballot")
    if method is Method.APPROVAL:
        return tuple(sorted(set(ballot)))
    if method is Method.RANKED:
        return tuple(dict.fromkeys(ballot))
    if method is Method.CONSENT and options != len(Consent):
        raise ValueError("a consent vote has exactly the four consent options")
    if len(ballot) > 1:
        raise ValueError(f"a {method} ballot holds one choice")
    return tuple(ballot)


def _top(counts: Sequence[Fraction], seats: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ``seats`` largest counts; equal counts straddling the last seat are ``tied``."""
    ranked = sorted(range(len(counts)), key=lambda option: (-counts[option], option))
    ranked = [option for option in ranked if counts[option] > 0]
    if len(ranked) <= seats:
        return tuple(ranked), ()
    boundary = counts[ranked[seats - 1]]
    if counts[ranked[seats]] != boundary:
        return tuple(ranked[:seats]), ()
    winners = tuple(option for option in ranked if counts[option] > boundary)
    tied = tuple(option for option in ranked if counts[option] == boundary)
    return winners, tied


def _ranked(
    ballots: Sequence[Ballot], options: int, seats: int, lot_rank: Mapping[int, int]
) -> Tally:
    counted = [ballot for ballot in ballots if ballot]
    first = [Fraction(0)] * options
    for ballot in counted:
        first[ballot[0]] += 1
    state = _Ranking(counted, options, lot_rank, hopeful=set(range(options)))
    if seats == 1:
        winners = _instant_runoff(state)
        quota = None
    else:
        quota = len(counted) // (seats + 1) + 1
        winners = _stv(state, seats, quota)
    return Tally(
        Method.RANKED,
        seats,
        len(counted),
        tuple(first),
        winners=tuple(winners),
        rounds=tuple(state.history),
        quota=quota,
        by_lot=state.by_lot,
    )


def _instant_runoff(state: _Ranking) -> list[int]:
    while True:
        tallies = dict.fromkeys(state.hopeful, Fraction(0))
        exhausted = Fraction(0)
        for ballot in state.ballots:
            top = next((option for option in ballot if option in state.hopeful), None)
            if top is None:
                exhausted += 1
            else:
                tallies[top] += 1
        continuing = sum(tallies.values(), Fraction(0))
        number = len(state.history) + 1
        note = "First preferences" if number == 1 else "After the transfer"
        leader = max(tallies, key=lambda option: (tallies[option], -state.lot_rank[option]))
        if continuing == 0:
            state.history.append(_round(state, number, note, tallies, exhausted))
            return []
        if tallies[leader] * 2 > continuing or len(state.hopeful) == 1:
            state.history.append(_round(state, number, note, tallies, exhausted, elected=(leader,)))
            return [leader]
        lowest, by_lot = _lowest(state, tallies)
        state.by_lot |= by_lot
        state.history.append(
            _round(state, number, note, tallies, exhausted, excluded=(lowest,), by_lot=by_lot)
        )
        state.hopeful.discard(lowest)


def _stv(state: _Ranking, seats: int, quota: int) -> list[int]:
    """Each round shows the counts at that stage, who they elect, and what happens next."""
    weights = [Fraction(1)] * len(state.ballots)
    position = [0] * len(state.ballots)
    piles: dict[int, list[int]] = {option: [] for option in range(state.options)}
    tallies: dict[int, Fraction] = dict.fromkeys(range(state.options), Fraction(0))
    exhausted = Fraction(0)
    elected: list[int] = []
    pending: list[int] = []  # elected, surplus not yet transferred

    for index, ballot in enumerate(state.ballots):
        piles[ballot[0]].append(index)
        tallies[ballot[0]] += 1

    def move_on(index: int, weight: Fraction) -> None:
        nonlocal exhausted
        ballot = state.ballots[index]
        for step in range(position[index] + 1, len(ballot)):
            if ballot[step] in state.hopeful:
                position[index] = step
                weights[index] = weight
                piles[ballot[step]].append(index)
                tallies[ballot[step]] += weight
                return
        exhausted += weight

    def elect(options: Sequence[int]) -> tuple[tuple[int, ...], bool]:
        ordered, by_lot = _order_elected(state, options, tallies)
        chosen = ordered[: seats - len(elected)]
        for option in chosen:
            state.hopeful.discard(option)
            elected.append(option)
            pending.append(option)
        return tuple(chosen), by_lot

    def record(
        note: str, newly: tuple[int, ...], by_lot: bool, excluded: tuple[int, ...] = ()
    ) -> None:
        shown = {option: tallies[option] for option in (*state.hopeful, *elected, *excluded)}
        number = len(state.history) + 1
        state.history.append(
            _round(
                state,
                number,
                note,
                shown,
                exhausted,
                elected=newly,
                excluded=excluded,
                by_lot=by_lot,
            )
        )

    while True:
        newly, by_lot = elect([option for option in state.hopeful if tallies[option] >= quota])
        state.by_lot |= by_lot
        if len(elected) < seats and len(state.hopeful) + len(elected) <= seats:
            rest, rest_by_lot = elect(list(state.hopeful))
            state.by_lot |= rest_by_lot
            note = "As many candidates left as seats: all elected"
            record(note, (*newly, *rest), by_lot or rest_by_lot)
            return elected
        if len(elected) >= seats:
            record("All seats filled", newly, by_lot)
            return elected
        pending[:] = [option for option in pending if tallies[option] > quota]
        if pending:
            surplus_of = max(pending, key=lambda o: (tallies[o], -elected.index(o)))
            pending.remove(surplus_of)
            record(f"Surplus of option {surplus_of + 1} transferred", newly, by_lot)
            factor = (tallies[surplus_of] - quota) / tallies[surplus_of]
            moving, piles[surplus_of] = piles[surplus_of], []
            tallies[surplus_of] = Fraction(quota)
            for index in moving:
                move_on(index, weights[index] * factor)
            continue
        lowest, lowest_by_lot = _lowest(state, {o: tallies[o] for o in state.hopeful})
        state.by_lot |= lowest_by_lot
        note = f"Option {lowest + 1} excluded"
        record(note, newly, by_lot or lowest_by_lot, excluded=(lowest,))
        state.hopeful.discard(lowest)
        moving, piles[lowest] = piles[lowest], []
        for index in moving:
            move_on(index, weights[index])


def _order_elected(
    state: _Ranking, reached: Sequence[int], tallies: Mapping[int, Fraction]
) -> tuple[list[int], bool]:
    """Most votes first; equal votes by the earlier rounds, then by the lot."""
    by_lot = False
    remaining = list(reached)
    ordered: list[int] = []
    while remaining:
        best = max(tallies[option] for option in remaining)
        tied = [option for option in remaining if tallies[option] == best]
        pick, lot_used = _break(state, tied, highest=True)
        by_lot |= lot_used
        ordered.append(pick)
        remaining.remove(pick)
    return ordered, by_lot


def _lowest(state: _Ranking, tallies: Mapping[int, Fraction]) -> tuple[int, bool]:
    least = min(tallies.values())
    tied = [option for option in tallies if tallies[option] == least]
    return _break(state, tied, highest=False)


def _break(state: _Ranking, tied: list[int], *, highest: bool) -> tuple[int, bool]:
    """One of ``tied``: the highest or lowest at the latest earlier round where they differed."""
    if len(tied) == 1:
        return tied[0], False
    for past in reversed(state.history):
        values = {option: past.tallies[option] or Fraction(0) for option in tied}
        target = max(values.values()) if highest else min(values.values())
        narrowed = [option for option in tied if values[option] == target]
        if len(narrowed) == 1:
            return narrowed[0], False
        tied = narrowed
    by_rank = sorted(tied, key=lambda option: state.lot_rank[option])
    return (by_rank[0] if highest else by_rank[-1]), True


def _round(
    state: _Ranking,
    number: int,
    note: str,
    tallies: Mapping[int, Fraction],
    exhausted: Fraction,
    *,
    elected: tuple[int, ...] = (),
    excluded: tuple[int, ...] = (),
    by_lot: bool = False,
) -> Round:
    return Round(
        number,
        note,
        tuple(tallies.get(option) for option in range(state.options)),
        exhausted,
        elected=elected,
        excluded=excluded,
        by_lot=by_lot,
    )


def round_table(result: Tally, labels: Sequence[str], *, width: int = 16) -> str:
    """A fixed-width table of a ranked count: one row per option, one column per round."""
    if not result.rounds:
        return ""
    names = [label if len(label) <= width else label[: width - 1] + "…" for label in labels]
    head = "".ljust(width) + "".join(f"{'R' + str(r.number):>8}" for r in result.rounds)
    lines = [head]
    for option, name in enumerate(names):
        cells = []
        for stage in result.rounds:
            value = stage.tallies[option]
            mark = "*" if option in stage.elected else ("x" if option in stage.excluded else "")
            cells.append(f"{'' if value is None else _number(value) + mark:>8}")
        lines.append(name.ljust(width) + "".join(cells))
    lines.append(
        "Exhausted".ljust(width) + "".join(f"{_number(r.exhausted):>8}" for r in result.rounds)
    )
    return "\n".join(lines)


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"
