"""The plain data the chapter service hands to cogs: snapshots of chapters and what changed.

Named ``…Summary``/``…Change``/``…Result`` rather than ``…View`` so they never read like a
``discord.ui.View`` in the cogs that render them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.services.chapter_settings import GuildChapterSettings
from bot.services.chapters.lifecycle import ACTIVE_STATUSES, STATUS_LABELS
from bot.services.places import CONTINENT_NAMES
from db.models import ChapterStatus


@dataclass(frozen=True, slots=True)
class ChapterSummary:
    """A chapter as it stood when read: identity, place, status and member count."""

    id: int
    guild_id: int
    name: str
    geoname_id: int
    city_label: str
    region_code: str
    region_name: str
    country_code: str
    continent_code: str
    timezone: str
    status: ChapterStatus
    role_id: int | None
    channel_id: int | None
    member_count: int
    rotate_roles: bool
    created_by: int
    created_at: datetime
    status_changed_at: datetime
    merged_into_id: int | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def continent_name(self) -> str:
        return CONTINENT_NAMES.get(self.continent_code, self.continent_code)


@dataclass(frozen=True, slots=True)
class MemberSummary:
    user_id: int
    is_founder: bool
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class RoleHolder:
    role: str
    user_id: int
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class AgreementSummary:
    id: int
    chapter_id: int
    text: str
    proposed_by: int
    created_at: datetime
    adopted_at: datetime | None
    adopted_by: int | None

    @property
    def adopted(self) -> bool:
        return self.adopted_at is not None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One entry of a chapter's status history."""

    from_status: ChapterStatus | None
    to_status: ChapterStatus
    reason: str
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CriterionResult:
    key: str  # "members", "meetings", "agreements", "roles"
    label: str
    met: bool
    required: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CriteriaReport:
    results: tuple[CriterionResult, ...]
    last_meeting_at: datetime | None = None

    @property
    def met(self) -> bool:
        return all(result.met for result in self.results)

    @property
    def missing(self) -> tuple[CriterionResult, ...]:
        return tuple(result for result in self.results if not result.met)

    def summary(self) -> str:
        return "; ".join(result.detail for result in self.results if result.required)

    def missing_summary(self) -> str:
        return "; ".join(result.detail for result in self.missing)


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change that just happened (to announce)."""

    chapter: ChapterSummary
    from_status: ChapterStatus | None
    to_status: ChapterStatus
    reason: str
    at: datetime
    automatic: bool
    #: the ``chapter_status_change`` row: announcements of this change are keyed by it
    change_id: int


@dataclass(frozen=True, slots=True)
class ChapterDetails:
    chapter: ChapterSummary
    members: tuple[MemberSummary, ...]
    roles: tuple[RoleHolder, ...]
    agreements: tuple[AgreementSummary, ...]
    criteria: CriteriaReport
    history: tuple[StatusChange, ...]
    settings: GuildChapterSettings
    merged_into: ChapterSummary | None = None

    @property
    def founders(self) -> tuple[int, ...]:
        return tuple(m.user_id for m in self.members if m.is_founder)

    def holder(self, role: str) -> int | None:
        return next((r.user_id for r in self.roles if r.role == role), None)


@dataclass(frozen=True, slots=True)
class MembershipChange:
    chapter: ChapterSummary
    user_id: int
    vacated_roles: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleChange:
    chapter: ChapterSummary
    role: str
    user_id: int
    previous_user_id: int | None
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class RotationResult:
    chapter: ChapterSummary
    holders: tuple[RoleHolder, ...]
    previous: tuple[RoleHolder, ...]
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementChange:
    agreement: AgreementSummary
    chapter: ChapterSummary
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeResult:
    """``merged`` is the source's own change to ``merged`` (the cog words that one itself);
    ``target_transitions`` is what re-evaluating the grown target caused, to announce."""

    source: ChapterSummary
    target: ChapterSummary
    moved_user_ids: tuple[int, ...]
    merged: Transition
    target_transitions: tuple[Transition, ...] = ()
