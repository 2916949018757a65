"""Whether a chapter meets its guild's criteria: members, meetings, agreements, key roles.

The criteria themselves are per-guild settings (:mod:`bot.services.chapter_settings`); this
module reads a chapter's facts inside the caller's transaction and reports on each one.
"""

from __future__ import annotations

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


async def criteria_report(
    session: AsyncSession, chapter_id: int, settings: GuildChapterSettings, now: datetime
) -> CriteriaReport:
    """Each criterion of ``settings`` checked against the chapter as it is at ``now``."""
    last_meeting = await session.scalar(
        select(func.max(ChapterMeeting.held_at)).where(
            ChapterMeeting.chapter_id == chapter_id,
            ChapterMeeting.attendee_count > 0,
            ChapterMeeting.held_at <= now,
        )
    )
    results = (
        await _members(session, chapter_id, settings),
        await _meetings(session, chapter_id, settings, now, last_meeting),
        await _agreements(session, chapter_id, settings),
        await _roles(session, chapter_id, settings),
    )
    return CriteriaReport(results, last_meeting_at=last_meeting)


async def _members(
    session: AsyncSession, chapter_id: int, settings: GuildChapterSettings
) -> CriterionResult:
    count = (
        await session.scalar(select(func.count()).where(ChapterMember.chapter_id == chapter_id))
        or 0
    )
    return CriterionResult(
        "members",
        "Members",
        count >= settings.min_members,
        True,
        f"{count} of {settings.min_members} members",
    )


async def _meetings(
    session: AsyncSession,
    chapter_id: int,
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
    held = list(
        await session.scalars(
            select(ChapterMeeting.held_at).where(
                ChapterMeeting.chapter_id == chapter_id,
                ChapterMeeting.attendee_count > 0,
                ChapterMeeting.held_at > since,
                ChapterMeeting.held_at <= now,
            )
        )
    )
    missing_windows = []
    for k in range(months):
        start, end = months_before(now, k + 1), months_before(now, k)
        if not any(start < at <= end for at in held):
            missing_windows.append((start, end))
    span = "in the last month" if months == 1 else f"in each of the last {months} months"
    grace = await session.scalar(
        select(Chapter.meeting_grace_until).where(Chapter.id == chapter_id)
    )
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


async def _agreements(
    session: AsyncSession, chapter_id: int, settings: GuildChapterSettings
) -> CriterionResult:
    if not settings.require_agreements:
        return CriterionResult("agreements", "Agreements", True, False, "agreements not required")
    adopted = (
        await session.scalar(
            select(func.count()).where(
                ChapterAgreement.chapter_id == chapter_id,
                ChapterAgreement.adopted_at.is_not(None),
            )
        )
        or 0
    )
    detail = f"{plural(adopted, 'agreement')} adopted" if adopted else "no agreements adopted yet"
    return CriterionResult("agreements", "Agreements", adopted > 0, True, detail)


async def _roles(
    session: AsyncSession, chapter_id: int, settings: GuildChapterSettings
) -> CriterionResult:
    if not settings.key_roles:
        return CriterionResult("roles", "Key roles", True, False, "no key roles required")
    filled = set(
        await session.scalars(
            select(ChapterRoleAssignment.role)
            .join(
                ChapterMember,
                (ChapterMember.chapter_id == ChapterRoleAssignment.chapter_id)
                & (ChapterMember.user_id == ChapterRoleAssignment.user_id),
            )
            .where(ChapterRoleAssignment.chapter_id == chapter_id)
        )
    )
    vacant = [role for role in settings.key_roles if role not in filled]
    detail = (
        f"{' and '.join(settings.key_roles)} filled"
        if not vacant
        else f"no {' or '.join(vacant)} yet"
    )
    return CriterionResult("roles", "Key roles", not vacant, True, detail)
