"""Welcome and onboarding: templates, newcomers' answers and follow-up, welcomers, introductions,
and the chapter toolkit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import UTCDateTime


class WelcomeSettings(Base):
    """What organizers set with /welcome settings; NULL columns mean the bot's default."""

    __tablename__ = "welcome_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_template: Mapped[str | None] = mapped_column(Text)
    dm_template: Mapped[str | None] = mapped_column(Text)
    followup_minutes: Mapped[int | None] = mapped_column(Integer)
    radius_km: Mapped[int | None] = mapped_column(Integer)
    newcomer_role_id: Mapped[int | None] = mapped_column(BigInteger)
    member_role_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Onboarding(Base):
    """One newcomer's onboarding: their answers (shown on their profile), their welcomer and
    whether someone got in touch. One row per member per guild; a returning member's row is
    reused (``joined_at`` moves)."""

    __tablename__ = "onboarding"
    __table_args__ = (Index("ix_onboarding_welcomer", "guild_id", "welcomer_id"),)

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    why_joined: Mapped[str | None] = mapped_column(Text)
    what_we_could_do: Mapped[str | None] = mapped_column(Text)
    intro_opt_in: Mapped[bool | None] = mapped_column(Boolean)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    welcomer_id: Mapped[int | None] = mapped_column(BigInteger)
    followup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_by: Mapped[int | None] = mapped_column(BigInteger)
    contact_note: Mapped[str | None] = mapped_column(String(500))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WelcomeVolunteer(Base):
    """A member who offered (/welcome volunteer on) to get in touch with newcomers."""

    __tablename__ = "welcome_volunteer"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberIntroduction(Base):
    """Two members introduced to each other; the unique pair (lower id first) makes a second
    introduction impossible."""

    __tablename__ = "member_introduction"
    __table_args__ = (UniqueConstraint("guild_id", "first_user_id", "second_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    first_user_id: Mapped[int] = mapped_column(BigInteger)
    second_user_id: Mapped[int] = mapped_column(BigInteger)
    geoname_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ToolkitResource(Base):
    """One resource of the chapter toolkit (a sign-up sheet, a meeting guide…)."""

    __tablename__ = "toolkit_resource"
    __table_args__ = (Index("ix_toolkit_resource_guild", "guild_id", "section"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    section: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
