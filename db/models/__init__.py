"""All models, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from db.base import Base
from db.models.chapters import (
    Affiliate,
    Chapter,
    ChapterAgreement,
    ChapterMeeting,
    ChapterMember,
    ChapterRoleAssignment,
    ChapterSettings,
    ChapterStatus,
    ChapterStatusChange,
    Marker,
    MarkerKind,
    MemberProfile,
    OrganizerRegion,
)
from db.models.core import CommandSyncState, GuildConfig, Timer, TimerStatus
from db.models.effects import DirectMessageState, Effect, EffectKind, EffectStatus

__all__ = [
    "Affiliate",
    "Base",
    "Chapter",
    "ChapterAgreement",
    "ChapterMeeting",
    "ChapterMember",
    "ChapterRoleAssignment",
    "ChapterSettings",
    "ChapterStatus",
    "ChapterStatusChange",
    "CommandSyncState",
    "DirectMessageState",
    "Effect",
    "EffectKind",
    "EffectStatus",
    "GuildConfig",
    "Marker",
    "MarkerKind",
    "MemberProfile",
    "OrganizerRegion",
    "Timer",
    "TimerStatus",
]
