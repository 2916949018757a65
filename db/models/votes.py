"""Votes and elections: the vote, its electorate snapshot, ballots, nominations and audit trail.

Secret ballots are keyed by a salted hash of the member id (``VoteBallot.voter_key``) so one vote
per member and changing a ballot work while open; the salt is erased at close, after which no row
links a member to a choice. Who has voted (for turnout and nudges) is kept apart, in
``VoteVoter.voted`` without a time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.types import UTCDateTime


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class VoteStatus(enum.StrEnum):
    NOMINATING = "nominating"  # elections: candidates are being nominated
    SCHEDULED = "scheduled"  # waiting for ``opens_at``
    OPEN = "open"
    CLOSED = "closed"


class ElectorateKind(enum.StrEnum):
    SERVER = "server"
    ROLE = "role"
    CHAPTER = "chapter"


class Vote(Base):
    __tablename__ = "vote"
    __table_args__ = (Index("ix_vote_guild_status", "guild_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="vote")  # vote | contingency | election
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    # elections: the candidates' member ids, in the order of ``options``
    candidate_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    seats: Mapped[int] = mapped_column(Integer, default=1)
    quorum: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[int | None] = mapped_column(Integer)
    live_results: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    min_days: Mapped[int] = mapped_column(Integer, default=0)
    electorate: Mapped[ElectorateKind] = mapped_column(_enum(ElectorateKind))
    electorate_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[VoteStatus] = mapped_column(_enum(VoteStatus))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)
    close_reason: Mapped[str | None] = mapped_column(Text)
    outcome_statement: Mapped[str | None] = mapped_column(Text)
    # secret votes: the per-vote salt of ``VoteBallot.voter_key``; NULL after close
    salt: Mapped[str | None] = mapped_column(String(64))
    # the count fixed at close (counts, rounds, outcome), so results never change afterwards
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reactions_missing_permission: Mapped[bool] = mapped_column(Boolean, default=False)


class VoteVoter(Base):
    """The electorate, snapshotted when the vote opens (plus members organizers add)."""

    __tablename__ = "vote_voter"

    vote_id: Mapped[int] = mapped_column(
        ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    added_by: Mapped[int | None] = mapped_column(BigInteger)  # None: from the snapshot
    voted: Mapped[bool] = mapped_column(Boolean, default=False)


class VoteBallot(Base):
    """One ballot per member per vote, enforced by the primary key (a reaction and a button
    racing cannot both insert). ``voter_key`` is the member id for public votes and a salted hash
    for secret ones; secret ballots carry no time."""

    __tablename__ = "vote_ballot"

    vote_id: Mapped[int] = mapped_column(
        ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True
    )
    voter_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    choice: Mapped[list[int]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)  # a consent block's reason
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VoteNomination(Base):
    __tablename__ = "vote_nomination"

    vote_id: Mapped[int] = mapped_column(
        ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    display_name: Mapped[str] = mapped_column(String(100))
    nominated_by: Mapped[int] = mapped_column(BigInteger)
    nominated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VoteEvent(Base):
    """The audit trail: organizer actions always; ballot changes of public votes only."""

    __tablename__ = "vote_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("vote.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
