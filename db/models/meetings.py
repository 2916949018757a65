"""Chapter meetings: series, occurrences, RSVPs, attendance, reminder policy and ledger."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import UTCDateTime


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class MeetingSeries(Base):
    """A chapter's meeting pattern. ``local_start`` is a wall time in ``timezone`` (ISO text,
    no offset: a naive local time is the truth for "19:00 every 1st Tuesday")."""

    __tablename__ = "meeting_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(300))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    local_start: Mapped[str] = mapped_column(String(19))
    until_local: Mapped[str | None] = mapped_column(String(19))
    rrule: Mapped[str | None] = mapped_column(String(200))
    # occurrences exist up to here; a timer extends the window
    materialised_until: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MeetingOccurrence(Base):
    """One meeting of a series. ``slot`` is the series' own start for it (stable under edits),
    so re-materialising never makes the same meeting twice."""

    __tablename__ = "meeting_occurrence"
    __table_args__ = (
        UniqueConstraint("series_id", "slot"),
        Index("ix_meeting_occurrence_chapter_starts", "chapter_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("meeting_series.id", ondelete="CASCADE"))
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapter.id", ondelete="CASCADE"))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # per-occurrence edits; NULL means "as the series says"
    title: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(300))
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    chapter_meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("chapter_meeting.id", ondelete="SET NULL")
    )
    event_id: Mapped[int | None] = mapped_column(BigInteger)


class RsvpAnswer(enum.StrEnum):
    GOING = "going"
    MAYBE = "maybe"
    CANT = "cant"


class MeetingRsvp(Base):
    __tablename__ = "meeting_rsvp"

    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_occurrence.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    answer: Mapped[RsvpAnswer] = mapped_column(_enum(RsvpAnswer))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingAttendance(Base):
    __tablename__ = "meeting_attendance"

    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_occurrence.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_by: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReminderPolicy(Base):
    """A chapter's reminder leads in minutes, longest first (``"4320,120"`` = 3d, 2h)."""

    __tablename__ = "reminder_policy"

    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), primary_key=True
    )
    leads_minutes: Mapped[str] = mapped_column(String(100))
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReminderPreference(Base):
    """A member's reminder wishes in one guild. ``leads_minutes`` NULL = every lead the chapter
    sends; quiet hours are minutes after local midnight in ``timezone``."""

    __tablename__ = "reminder_preference"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    leads_minutes: Mapped[str | None] = mapped_column(String(100))
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    # handed to the outbox (its effect row, dedupe key ``reminder:<id>``, holds the message id)
    QUEUED = "queued"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class ReminderDelivery(Base):
    """The ledger: one row per occurrence, lead and member, so a reminder can exist only once."""

    __tablename__ = "reminder_delivery"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "lead_minutes", "user_id"),
        Index("ix_reminder_delivery_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_occurrence.id", ondelete="CASCADE")
    )
    lead_minutes: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ReminderStatus] = mapped_column(_enum(ReminderStatus))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a row skipped because the meeting had started is told to organizers once, in a summary
    summarised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
