"""The status rule of a chapter, as a pure function of what is known about it.

A chapter goes ``forming`` → ``formal`` → ``at_risk`` → ``lapsed`` (plus ``archived`` and
``merged``), judged against the guild's criteria:

* forming → formal when every criterion is met;
* formal → at_risk when they stop being met; at_risk → formal when met again;
* at_risk → lapsed after :data:`LAPSE_AFTER` at risk;
* lapsed, archived and merged chapters are only changed by hand (``set_status``).

:func:`next_status` is the whole rule; the service feeds it and records what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from db.models import ChapterStatus

if TYPE_CHECKING:
    from bot.services.chapters.results import CriteriaReport

#: How long a chapter may stay at risk before it lapses.
LAPSE_AFTER = timedelta(days=60)
#: Statuses of a chapter that still exists (blocks a second chapter in its city).
ACTIVE_STATUSES = (
    ChapterStatus.FORMING,
    ChapterStatus.FORMAL,
    ChapterStatus.AT_RISK,
    ChapterStatus.LAPSED,
)
#: Statuses the evaluation may change.
EVALUATED_STATUSES = (ChapterStatus.FORMING, ChapterStatus.FORMAL, ChapterStatus.AT_RISK)
STATUS_LABELS: dict[ChapterStatus, str] = {
    ChapterStatus.FORMING: "forming",
    ChapterStatus.FORMAL: "formal",
    ChapterStatus.AT_RISK: "at risk",
    ChapterStatus.LAPSED: "lapsed",
    ChapterStatus.ARCHIVED: "archived",
    ChapterStatus.MERGED: "merged",
}


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """The status a chapter should move to, and the reason written to its history."""

    to_status: ChapterStatus
    reason: str


def next_status(
    status: ChapterStatus,
    report: CriteriaReport,
    time_in_status: timedelta,
    *,
    lapse_after: timedelta = LAPSE_AFTER,
    trigger: str | None = None,
) -> StatusDecision | None:
    """Where a chapter in ``status`` for ``time_in_status`` goes, given its criteria ``report``;
    None when it stays. ``trigger`` (what prompted the check) is named in the reason."""
    after = f" (checked after {trigger})" if trigger else ""
    if status == ChapterStatus.FORMING and report.met:
        return StatusDecision(ChapterStatus.FORMAL, f"all criteria met: {report.summary()}{after}")
    if status == ChapterStatus.FORMAL and not report.met:
        return StatusDecision(
            ChapterStatus.AT_RISK, f"criteria no longer met: {report.missing_summary()}{after}"
        )
    if status == ChapterStatus.AT_RISK:
        if report.met:
            return StatusDecision(
                ChapterStatus.FORMAL, f"criteria met again: {report.summary()}{after}"
            )
        if time_in_status >= lapse_after:
            return StatusDecision(
                ChapterStatus.LAPSED,
                f"at risk for {lapse_after.days} days: {report.missing_summary()}{after}",
            )
    return None
