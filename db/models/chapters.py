"""Members' places, chapters and their life, affiliates, organizer regions and markers."""

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
    return Enum(kind, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class MemberProfile(Base):
    """A member of a guild as the bot knows them: when they joined and where they live."""

    __tablename__ = "member_profile"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    geoname_id: Mapped[int | None] = mapped_column(Integer, index=True)
    city_label: Mapped[str | None] = mapped_column(String(120))
    region_code: Mapped[str | None] = mapped_column(String(20))
    country_code: Mapped[str | None] = mapped_column(String(2))
    continent_code: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChapterStatus(enum.StrEnum):
    FORMING = "forming"
    FORMAL = "formal"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"
    ARCHIVED = "archived"
    MERGED = "merged"


class Chapter(Base):
    """A local chapter. ``active`` is True or NULL so the unique constraints below only bind
    chapters that are still alive (NULLs never collide, on SQLite and PostgreSQL alike)."""

    __tablename__ = "chapter"
    __table_args__ = (
        UniqueConstraint("guild_id", "geoname_id", "active"),
        UniqueConstraint("guild_id", "name_key", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(80))
    name_key: Mapped[str] = mapped_column(String(80))
    geoname_id: Mapped[int] = mapped_column(Integer)
    city_label: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(String(20))
    region_name: Mapped[str] = mapped_column(String(100), default="")
    country_code: Mapped[str] = mapped_column(String(2))
    continent_code: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[ChapterStatus] = mapped_column(_enum(ChapterStatus))
    active: Mapped[bool | None] = mapped_column(Boolean, default=True)
    role_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("chapter.id"))
    rotate_roles: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # chapters formal while meetings were not required have until then to hold one (0006)
    meeting_grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChapterMember(Base):
    __tablename__ = "chapter_member"

    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    is_founder: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChapterRoleAssignment(Base):
    """Who holds a chapter role (facilitator, note-taker, …); one holder per role."""

    __tablename__ = "chapter_role"

    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChapterAgreement(Base):
    __tablename__ = "chapter_agreement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adopted_by: Mapped[int | None] = mapped_column(BigInteger)


class ChapterStatusChange(Base):
    """Every status transition, with its time and reason (the chapter's history)."""

    __tablename__ = "chapter_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ChapterStatus | None] = mapped_column(_enum(ChapterStatus))
    to_status: Mapped[ChapterStatus] = mapped_column(_enum(ChapterStatus))
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChapterMeeting(Base):
    """A held meeting with recorded attendance; the meetings feature writes these."""

    __tablename__ = "chapter_meeting"
    __table_args__ = (Index("ix_chapter_meeting_chapter_held", "chapter_id", "held_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapter.id", ondelete="CASCADE"))
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attendee_count: Mapped[int] = mapped_column(Integer, default=0)


class ChapterSettings(Base):
    """Per-guild definition of a functioning chapter, and map/marker knobs organizers tune."""

    __tablename__ = "chapter_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    min_members: Mapped[int] = mapped_column(Integer, default=5)
    #: NULL: the bot's default (see ``bot.services.chapter_settings.DEFAULT_MEETING_MONTHS``).
    meeting_months: Mapped[int | None] = mapped_column(Integer)
    require_agreements: Mapped[bool] = mapped_column(Boolean, default=True)
    key_roles: Mapped[str] = mapped_column(String(200), default="facilitator,note-taker")
    map_min_members: Mapped[int] = mapped_column(Integer, default=5)
    marker_lead_days: Mapped[int] = mapped_column(Integer, default=90)
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrganizerRegion(Base):
    """Organizers' own regions ("West Coast") as a set of areas (country or country+state)."""

    __tablename__ = "organizer_region"
    __table_args__ = (UniqueConstraint("guild_id", "country_code", "region_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer, default=0)
    country_code: Mapped[str] = mapped_column(String(2))
    region_code: Mapped[str] = mapped_column(String(20), default="")


class Affiliate(Base):
    """An existing organization that shares the values; not a chapter, counted separately."""

    __tablename__ = "affiliate"
    __table_args__ = (UniqueConstraint("guild_id", "name_key", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(300))
    geoname_id: Mapped[int | None] = mapped_column(Integer)
    city_label: Mapped[str | None] = mapped_column(String(120))
    country_code: Mapped[str | None] = mapped_column(String(2))
    continent_code: Mapped[str | None] = mapped_column(String(2))
    registered_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool | None] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MarkerKind(enum.StrEnum):
    MEMBERS = "members"
    FORMAL_CHAPTERS = "formal_chapters"
    CONTINENTS = "continents"


class Marker(Base):
    """An organization-wide target, e.g. 20 formal chapters by a date."""

    __tablename__ = "marker"
    __table_args__ = (UniqueConstraint("guild_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[MarkerKind] = mapped_column(_enum(MarkerKind))
    target: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # what organizers were last told, so a miss is announced once per change
    alert_state: Mapped[str | None] = mapped_column(String(120))
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
