"""Chapters: proposal, membership, roles, agreements and the status lifecycle.

Module map (each part of :class:`ChapterService` is a small class over :class:`ChapterStore`):

* ``results`` — the plain data handed to cogs (``ChapterSummary``, ``Transition``, …);
* ``lifecycle`` — the status rule as a pure function (:func:`next_status`) and status constants;
* ``criteria`` — reading a chapter's facts into a :class:`CriteriaReport`;
* ``text`` — cleaning names, free text and role names;
* ``_store`` — shared resources, row lookups, re-evaluation and recording status changes;
* ``lookups``, ``founding``, ``membership``, ``roles``, ``agreements``, ``status`` — the
  service's operations; ``service`` puts them together.
"""

from bot.services.chapters.criteria import months_before
from bot.services.chapters.lifecycle import (
    ACTIVE_STATUSES,
    EVALUATED_STATUSES,
    LAPSE_AFTER,
    STATUS_LABELS,
    StatusDecision,
    next_status,
)
from bot.services.chapters.results import (
    AgreementChange,
    AgreementSummary,
    ChapterDetails,
    ChapterSummary,
    CriteriaReport,
    CriterionResult,
    MembershipChange,
    MemberSummary,
    MergeResult,
    RoleChange,
    RoleHolder,
    RotationResult,
    StatusChange,
    Transition,
)
from bot.services.chapters.service import ChapterService
from bot.services.chapters.text import (
    AGREEMENT_MAX_CHARS,
    KNOWN_ROLES,
    NAME_MAX_CHARS,
    ROTATING_ROLES,
    clean_name,
    normalize_role,
)
from db.models import ChapterStatus

__all__ = [
    "ACTIVE_STATUSES",
    "AGREEMENT_MAX_CHARS",
    "EVALUATED_STATUSES",
    "KNOWN_ROLES",
    "LAPSE_AFTER",
    "NAME_MAX_CHARS",
    "ROTATING_ROLES",
    "STATUS_LABELS",
    "AgreementChange",
    "AgreementSummary",
    "ChapterDetails",
    "ChapterService",
    "ChapterStatus",
    "ChapterSummary",
    "CriteriaReport",
    "CriterionResult",
    "MemberSummary",
    "MembershipChange",
    "MergeResult",
    "RoleChange",
    "RoleHolder",
    "RotationResult",
    "StatusChange",
    "StatusDecision",
    "Transition",
    "clean_name",
    "months_before",
    "next_status",
    "normalize_role",
]
