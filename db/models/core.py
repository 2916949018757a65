"""Models every feature relies on: per-guild configuration, durable timers, command sync state."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import UTCDateTime


class GuildConfig(Base):
    """What an organizer set with /setup for one Discord server."""

    __tablename__ = "guild_config"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    welcome_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    organizer_role_id: Mapped[int | None] = mapped_column(BigInteger)
    organizer_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TimerStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Timer(Base):
    """A durable timer: the table is the queue, APScheduler only wakes us up.

    ``expires`` is when the timer was meant to fire; ``run_at`` is the next attempt (later than
    ``expires`` after a failure). ``key`` is an optional idempotency key: a unique constraint makes
    creating the same logical timer twice impossible.
    """

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[TimerStatus] = mapped_column(
        Enum(
            TimerStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=TimerStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CommandSyncState(Base):
    """Hash of the application-command payload last synced per scope, to sync only on change."""

    __tablename__ = "command_sync_state"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
