"""The status rule as a pure function: no database, no clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.chapters import (
    LAPSE_AFTER,
    ChapterStatus,
    CriteriaReport,
    CriterionResult,
    next_status,
)

MET = CriteriaReport(
    (
        CriterionResult("members", "Members", True, True, "5 of 5 members"),
        CriterionResult("meetings", "Meetings", True, False, "meetings not required"),
    )
)
UNMET = CriteriaReport(
    (
        CriterionResult("members", "Members", False, True, "3 of 5 members"),
        CriterionResult("meetings", "Meetings", True, False, "meetings not required"),
    )
)
S = ChapterStatus
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("status", "report", "in_status", "expected", "reason"),
    [
        (S.FORMING, UNMET, 400 * DAY, None, None),
        (S.FORMING, MET, timedelta(0), S.FORMAL, "all criteria met: 5 of 5 members"),
        (S.FORMAL, MET, 400 * DAY, None, None),
        (S.FORMAL, UNMET, timedelta(0), S.AT_RISK, "criteria no longer met: 3 of 5 members"),
        (S.AT_RISK, MET, 59 * DAY, S.FORMAL, "criteria met again: 5 of 5 members"),
        (S.AT_RISK, MET, 90 * DAY, S.FORMAL, "criteria met again: 5 of 5 members"),
        (S.AT_RISK, UNMET, LAPSE_AFTER - timedelta(seconds=1), None, None),
        (S.AT_RISK, UNMET, LAPSE_AFTER, S.LAPSED, "at risk for 60 days: 3 of 5 members"),
        (S.LAPSED, MET, 400 * DAY, None, None),
        (S.LAPSED, UNMET, 400 * DAY, None, None),
        (S.ARCHIVED, MET, 0 * DAY, None, None),
        (S.MERGED, MET, 0 * DAY, None, None),
    ],
)
def test_next_status(
    status: ChapterStatus,
    report: CriteriaReport,
    in_status: timedelta,
    expected: ChapterStatus | None,
    reason: str | None,
) -> None:
    decision = next_status(status, report, in_status)
    if expected is None:
        assert decision is None
    else:
        assert decision is not None
        assert (decision.to_status, decision.reason) == (expected, reason)


def test_the_trigger_is_named_in_the_reason() -> None:
    decision = next_status(S.FORMING, MET, timedelta(0), trigger="a member joined")
    assert decision is not None
    assert decision.reason == "all criteria met: 5 of 5 members (checked after a member joined)"


def test_a_shorter_lapse_period_is_used_and_named() -> None:
    decision = next_status(S.AT_RISK, UNMET, 7 * DAY, lapse_after=7 * DAY)
    assert decision is not None
    assert decision.to_status == S.LAPSED and decision.reason.startswith("at risk for 7 days")


criteria = st.builds(
    CriterionResult,
    key=st.sampled_from(["members", "meetings", "agreements", "roles"]),
    label=st.just("x"),
    met=st.booleans(),
    required=st.booleans(),
    detail=st.text(max_size=20),
)
reports = st.builds(CriteriaReport, st.lists(criteria, max_size=4).map(tuple))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650))


@given(
    status=st.sampled_from([S.LAPSED, S.ARCHIVED, S.MERGED]), report=reports, in_status=durations
)
def test_lapsed_archived_and_merged_never_change_on_their_own(
    status: ChapterStatus, report: CriteriaReport, in_status: timedelta
) -> None:
    assert next_status(status, report, in_status) is None


@given(status=st.sampled_from(list(S)), report=reports, in_status=durations)
def test_a_chapter_lapses_only_after_the_lapse_period_at_risk(
    status: ChapterStatus, report: CriteriaReport, in_status: timedelta
) -> None:
    decision = next_status(status, report, in_status)
    if decision is not None and decision.to_status == S.LAPSED:
        assert status == S.AT_RISK and in_status >= LAPSE_AFTER and not report.met


@given(status=st.sampled_from(list(S)), report=reports, in_status=durations)
def test_formal_exactly_when_the_criteria_are_met(
    status: ChapterStatus, report: CriteriaReport, in_status: timedelta
) -> None:
    decision = next_status(status, report, in_status)
    if decision is not None:
        assert (decision.to_status == S.FORMAL) == report.met
        assert decision.to_status != status
