"""Durable Discord effects (the outbox) and what the bot knows about members' DMs.

A database change and the Discord calls that follow from it can fail apart (Discord answers 5xx,
the process dies), so a feature writes each call as an :class:`Effect` row in the same
transaction as the change, and one worker applies the rows.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import UTCDateTime


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class EffectKind(enum.StrEnum):
    ROLE_GRANT = "role_grant"
    ROLE_REMOVE = "role_remove"
    CHANNEL_OVERWRITE = "channel_overwrite"
    DM = "dm"
    CHANNEL_POST = "channel_post"
    PRIVATE_THREAD = "private_thread"


class EffectStatus(enum.StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    #: a later effect on the same subject made this one moot (e.g. leave after join)
    SUPERSEDED = "superseded"


class Effect(Base):
    """One Discord call to make, once.

    ``subject`` names what the call changes (``role:{guild}:{user}:{role}``): a newer effect on
    the same subject supersedes a pending older one, and two effects on one subject are never in
    flight together. ``lane`` groups effects for fair interleaving (a purpose and a chapter), so a
    large fan-out never starves a welcome. ``dedupe_key`` makes enqueueing the same logical effect
    twice impossible. ``result_id`` is what Discord returned (a message id).
    """

    __tablename__ = "discord_effect"
    __table_args__ = (
        Index("ix_discord_effect_status_next", "status", "next_attempt_at"),
        Index("ix_discord_effect_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[EffectKind] = mapped_column(_enum(EffectKind))
    purpose: Mapped[str] = mapped_column(String(32))
    lane: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[EffectStatus] = mapped_column(_enum(EffectStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when a failure was told to organizers (or that it needs no telling): each is told once
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DirectMessageState(Base):
    """A user's DM channel with the bot (so a warm send is one request) and whether they accept
    DMs from us (403 code 50007 is recorded here and never retried blindly)."""

    __tablename__ = "direct_message_state"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
