"""Whether a chapter meets its guild's criteria: members, meetings, agreements, key roles.

The criteria themselves are per-guild settings (:mod:`bot.services.chapter_settings`); this
module reads a chapter's facts inside the caller's transaction and reports on each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.chapter_settings import (
    ATTENDANCE_NOT_RECORDED,
    MEETING_ATTENDANCE_RECORDED,
    GuildChapterSettings,
)
from bot.services.chapters.results import CriteriaReport, CriterionResult
from bot.services.chapters.text import plural
from db.models import (
    Chapter,
    ChapterAgreement,
    ChapterMeeting,
    ChapterMember,
    ChapterRoleAssignment,
)


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months, clamping the day (31 March - 1 month = 28/29 Feb)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    next_index = index + 1
    first_of_next = moment.replace(year=next_index // 12, month=next_index % 12 + 1, day=1)
    last_day = (first_of_next - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


@dataclass(frozen=True, slots=True)
class CriteriaFacts:
    """What the criteria are judged on, read once; judging it at a time needs no database."""

    member_count: int
    meetings: tuple[datetime, ...]  #: when meetings with attendance were held, oldest first
    adopted_agreements: int
    filled_roles: frozenset[str]  #: roles held by a current member
    meeting_grace_until: datetime | None = None  #: no meeting needed before then


async def criteria_facts(session: AsyncSession, chapter_id: int) -> CriteriaFacts:
    counts = (
        await session.execute(
            select(
                select(func.count())
                .where(ChapterMember.chapter_id == chapter_id)
                .scalar_subquery(),
                select(func.count())
                .where(
                    ChapterAgreement.chapter_id == chapter_id,
                    ChapterAgreement.adopted_at.is_not(None),
                )
                .scalar_subquery(),
                select(Chapter.meeting_grace_until)
                .where(Chapter.id == chapter_id)
                .scalar_subquery(),
            )
        )
    ).one()
    meetings = await session.scalars(
        select(ChapterMeeting.held_at)
        .where(ChapterMeeting.chapter_id == chapter_id, ChapterMeeting.attendee_count > 0)
        .order_by(ChapterMeeting.held_at)
    )
    filled = await session.scalars(
        select(ChapterRoleAssignment.role)
        .join(
            ChapterMember,
            (ChapterMember.chapter_id == ChapterRoleAssignment.chapter_id)
            & (ChapterMember.user_id == ChapterRoleAssignment.user_id),
        )
        .where(ChapterRoleAssignment.chapter_id == chapter_id)
    )
    return CriteriaFacts(
        member_count=counts[0] or 0,
        meetings=tuple(sorted(meetings)),
        adopted_agreements=counts[1] or 0,
        filled_roles=frozenset(filled),
        meeting_grace_until=counts[2],
    )


async def criteria_report(
    session: AsyncSession, chapter_id: int, settings: GuildChapterSettings, now: datetime
) -> CriteriaReport:
    """Each criterion of ``settings`` checked against the chapter as it is at ``now``."""
    return judge_criteria(await criteria_facts(session, chapter_id), settings, now)


def judge_criteria(
    facts: CriteriaFacts, settings: GuildChapterSettings, now: datetime
) -> CriteriaReport:
    """Each criterion of ``settings`` checked against ``facts`` at ``now``."""
    held = [at for at in facts.meetings if at <= now]
    last_meeting = held[-1] if held else None
    results = (
        _members(facts, settings),
        _meetings(facts, held, settings, now, last_meeting),
        _agreements(facts, settings),
        _roles(facts, settings),
    )
    return CriteriaReport(results, last_meeting_at=last_meeting)


def _members(facts: CriteriaFacts, settings: GuildChapterSettings) -> CriterionResult:
    count = facts.member_count
    return CriterionResult(
        "members",
        "Members",
        count >= settings.min_members,
        True,
        f"{count} of {settings.min_members} members",
    )


def _meetings(
    facts: CriteriaFacts,
    held_until_now: list[datetime],
    settings: GuildChapterSettings,
    now: datetime,
    last_meeting: datetime | None,
) -> CriterionResult:
    months = settings.meeting_months
    unrecorded = "" if MEETING_ATTENDANCE_RECORDED else f" ({ATTENDANCE_NOT_RECORDED})"
    if months <= 0:
        return CriterionResult(
            "meetings", "Meetings", True, False, f"meetings not required{unrecorded}"
        )
    since = months_before(now, months)
    held = [at for at in held_until_now if at > since]
    missing_windows = []
    for k in range(months):
        start, end = months_before(now, k + 1), months_before(now, k)
        if not any(start < at <= end for at in held):
            missing_windows.append((start, end))
    span = "in the last month" if months == 1 else f"in each of the last {months} months"
    grace = facts.meeting_grace_until
    if missing_windows and grace is not None and now < grace:
        # formal while meetings were not required: a month to hold one before going at risk
        return CriterionResult(
            "meetings",
            "Meetings",
            True,
            True,
            f"needs a meeting with attendance {span}; grace period until {grace:%Y-%m-%d}",
        )
    if not missing_windows:
        detail = f"a meeting with attendance {span}"
    elif last_meeting is None:
        detail = f"no meetings recorded (needs a meeting with attendance {span})"
        if not MEETING_ATTENDANCE_RECORDED:
            detail = (
                f"needs a meeting with attendance {span}, but {ATTENDANCE_NOT_RECORDED}: "
                "an organizer can set /chapter criteria meeting_months:0 until it is"
            )
    else:
        start, end = missing_windows[0]
        detail = (
            f"no meeting with attendance between {start:%Y-%m-%d} and {end:%Y-%m-%d} "
            f"(needs one {span}; last was {last_meeting:%Y-%m-%d})"
        )
    return CriterionResult("meetings", "Meetings", not missing_windows, True, detail)


def _agreements(facts: CriteriaFacts, settings: GuildChapterSettings) -> CriterionResult:
    if not settings.require_agreements:
        return CriterionResult("agreements", "Agreements", True, False, "agreements not required")
    adopted = facts.adopted_agreements
    detail = f"{plural(adopted, 'agreement')} adopted" if adopted else "no agreements adopted yet"
    return CriterionResult("agreements", "Agreements", adopted > 0, True, detail)


def _roles(facts: CriteriaFacts, settings: GuildChapterSettings) -> CriterionResult:
    if not settings.key_roles:
        return CriterionResult("roles", "Key roles", True, False, "no key roles required")
    filled = facts.filled_roles
    vacant = [role for role in settings.key_roles if role not in filled]
    detail = (
        f"{' and '.join(settings.key_roles)} filled"
        if not vacant
        else f"no {' or '.join(vacant)} yet"
    )
    return CriterionResult("roles", "Key roles", not vacant, True, detail)
