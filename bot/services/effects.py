"""Durable Discord effects (the outbox): Discord calls written as rows, applied by one worker.

A feature that changes the database and must then change Discord (grant or remove a role, set a
channel overwrite, send a DM, post in a channel) writes the call with :meth:`EffectService.enqueue`
in the *same transaction* as its change, so both happen or neither does. The worker in
``bot.effects`` claims due rows (a lease, like the timers), applies them, and marks each
``applied`` (with what Discord returned, e.g. the message id), ``pending`` again with a later
``next_attempt_at`` (5xx, 429, network), or ``failed`` with the reason after the last try.

Ordering and fairness live here, not in the worker: a newer effect on the same ``subject`` (the
same member and role) supersedes a pending older one, two effects on one subject are never in
flight together, and claims take one row from each ``lane`` in turn so one large fan-out never
starves a welcome. Nothing here imports discord.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from db.models import DirectMessageState, Effect, EffectKind, EffectStatus
from db.session import Sessions

__all__ = [
    "DmState",
    "EffectKind",
    "EffectRecord",
    "EffectRequest",
    "EffectService",
    "EffectStatus",
    "channel_overwrite",
    "channel_post",
    "direct_message",
    "role_grant",
    "role_removal",
    "role_subject",
]

ERROR_MAX_CHARS = 2000
#: A member whose DMs were closed is tried again after this long (they may have opened them).
DM_CLOSED_RECHECK = timedelta(days=7)
#: Purposes whose failures are not reported to organizers (the report itself, for one).
UNREPORTED_PURPOSES = frozenset({"report"})


@dataclass(frozen=True, slots=True)
class EffectRequest:
    """One Discord call to make; build it with the helpers below."""

    kind: EffectKind
    subject: str
    payload: dict[str, Any]
    guild_id: int | None
    purpose: str
    lane: str
    dedupe_key: str | None = None
    #: drop a pending older effect on the same subject (the newest desired state wins)
    supersedes: bool = False
    delay: timedelta = timedelta(0)


def role_subject(guild_id: int, user_id: int, role_id: int) -> str:
    """What a role change is about: one member and one role."""
    return f"role:{guild_id}:{user_id}:{role_id}"


def role_grant(
    guild_id: int,
    user_id: int,
    role_id: int,
    *,
    describe: str,
    reason: str = "chapterbot",
    purpose: str = "roles",
    lane: str | None = None,
    hint: str = "",
) -> EffectRequest:
    """Give a member a role. ``describe`` finishes "I couldn't …" in a failure report."""
    return EffectRequest(
        kind=EffectKind.ROLE_GRANT,
        subject=role_subject(guild_id, user_id, role_id),
        payload={
            "user_id": user_id,
            "role_id": role_id,
            "reason": reason[:400],
            "describe": describe,
            "hint": hint,
        },
        guild_id=guild_id,
        purpose=purpose,
        lane=lane or f"{purpose}:{guild_id}",
        supersedes=True,
    )


def role_removal(
    guild_id: int,
    user_id: int,
    role_id: int,
    *,
    describe: str,
    reason: str = "chapterbot",
    purpose: str = "roles",
    lane: str | None = None,
    hint: str = "",
) -> EffectRequest:
    """Take a role back from a member (nothing to do if they no longer have it or left)."""
    request = role_grant(
        guild_id,
        user_id,
        role_id,
        describe=describe,
        reason=reason,
        purpose=purpose,
        lane=lane,
        hint=hint,
    )
    return EffectRequest(
        kind=EffectKind.ROLE_REMOVE,
        subject=request.subject,
        payload=request.payload,
        guild_id=guild_id,
        purpose=purpose,
        lane=request.lane,
        supersedes=True,
    )


def channel_overwrite(
    guild_id: int,
    channel_id: int,
    target_id: int,
    *,
    allow: int,
    deny: int,
    target_is_member: bool = False,
    remove: bool = False,
    describe: str,
    reason: str = "chapterbot",
    purpose: str = "channels",
    hint: str = "",
) -> EffectRequest:
    """Set (or with ``remove`` delete) one permission overwrite on a channel."""
    return EffectRequest(
        kind=EffectKind.CHANNEL_OVERWRITE,
        subject=f"overwrite:{channel_id}:{target_id}",
        payload={
            "channel_id": channel_id,
            "target_id": target_id,
            "type": 1 if target_is_member else 0,
            "allow": allow,
            "deny": deny,
            "remove": remove,
            "reason": reason[:400],
            "describe": describe,
            "hint": hint,
        },
        guild_id=guild_id,
        purpose=purpose,
        lane=f"{purpose}:{guild_id}",
        supersedes=True,
    )


#: attachments ride in the outbox row itself, so they stay small (an .ics is ~1 KB)
MAX_ATTACHMENT_BYTES = 64 * 1024
MAX_ATTACHMENTS = 4


@dataclass(frozen=True, slots=True)
class Attachment:
    """A small file sent with a message (multipart, with the same nonce as a plain message)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def _attachments(files: Sequence[Attachment]) -> list[dict[str, str]]:
    if len(files) > MAX_ATTACHMENTS or sum(len(f.data) for f in files) > MAX_ATTACHMENT_BYTES:
        raise ValueError(
            f"at most {MAX_ATTACHMENTS} attachments of {MAX_ATTACHMENT_BYTES} bytes in all"
        )
    return [
        {
            "filename": f.filename,
            "content_type": f.content_type,
            "content_base64": base64.b64encode(f.data).decode("ascii"),
        }
        for f in files
    ]


def attachments_of(payload: dict[str, Any]) -> list[Attachment]:
    """The files a message effect's payload carries (none for most)."""
    return [
        Attachment(f["filename"], base64.b64decode(f["content_base64"]), f["content_type"])
        for f in payload.get("files", [])
    ]


def _message(
    content: str | None,
    embeds: Sequence[dict[str, Any]] | None,
    components: Sequence[dict[str, Any]] | None,
    mention_user_ids: Iterable[int],
) -> dict[str, Any]:
    """A message body as Discord takes it; it pings nobody but ``mention_user_ids``."""
    message: dict[str, Any] = {
        "allowed_mentions": {"parse": [], "users": [str(u) for u in mention_user_ids]}
    }
    if content:
        message["content"] = content
    if embeds:
        message["embeds"] = list(embeds)
    if components:
        message["components"] = list(components)
    if len(message) == 1:
        raise ValueError("a message needs content, embeds or components")
    return message


def channel_post(
    channel_id: int,
    *,
    guild_id: int | None,
    content: str | None = None,
    embeds: Sequence[dict[str, Any]] | None = None,
    components: Sequence[dict[str, Any]] | None = None,
    mention_user_ids: Iterable[int] = (),
    purpose: str,
    lane: str | None = None,
    dedupe_key: str | None = None,
    describe: str = "post a message",
    files: Sequence[Attachment] = (),
) -> EffectRequest:
    """Post in a channel, once (a deterministic nonce makes a resend after a crash harmless)."""
    payload: dict[str, Any] = {
        "channel_id": channel_id,
        "message": _message(content, embeds, components, mention_user_ids),
        "describe": describe,
    }
    if files:
        payload["files"] = _attachments(files)
    return EffectRequest(
        kind=EffectKind.CHANNEL_POST,
        subject=f"channel:{channel_id}",
        payload=payload,
        guild_id=guild_id,
        purpose=purpose,
        lane=lane or f"{purpose}:{guild_id or 0}",
        dedupe_key=dedupe_key,
    )


def private_thread(
    guild_id: int,
    channel_id: int,
    user_ids: Sequence[int],
    *,
    name: str,
    purpose: str,
    dedupe_key: str | None,
    content: str,
    describe: str | None = None,
) -> EffectRequest:
    """A private thread in a channel with these members added and one message in it: how
    members whose DMs are closed still get a message meant for them alone."""
    payload: dict[str, Any] = {
        "channel_id": channel_id,
        "user_ids": list(user_ids),
        "name": name[:100],
        "message": _message(content, None, None, ()),
        "describe": describe or f"open a private thread in <#{channel_id}>",
    }
    return EffectRequest(
        kind=EffectKind.PRIVATE_THREAD,
        subject=f"thread:{channel_id}:{'-'.join(map(str, user_ids))}",
        payload=payload,
        guild_id=guild_id,
        purpose=purpose,
        lane=purpose,
        dedupe_key=dedupe_key,
    )


def direct_message(
    user_id: int,
    *,
    purpose: str,
    dedupe_key: str | None,
    content: str | None = None,
    embeds: Sequence[dict[str, Any]] | None = None,
    components: Sequence[dict[str, Any]] | None = None,
    guild_id: int | None = None,
    lane: str | None = None,
    fallback: EffectRequest | None = None,
    describe: str | None = None,
    files: Sequence[Attachment] = (),
) -> EffectRequest:
    """DM a member, once. ``lane`` groups a fan-out (e.g. ``reminder:chapter:12``) so it
    interleaves with other lanes. ``fallback`` (e.g. a :func:`channel_post`) is enqueued in the
    same transaction that records the member's DMs as closed (403 code 50007)."""
    payload: dict[str, Any] = {
        "user_id": user_id,
        "message": _message(content, embeds, components, ()),
        "describe": describe or f"send <@{user_id}> a direct message",
    }
    if files:
        payload["files"] = _attachments(files)
    if fallback is not None:
        payload["fallback"] = _request_to_json(fallback)
    return EffectRequest(
        kind=EffectKind.DM,
        subject=f"dm:{user_id}",
        payload=payload,
        guild_id=guild_id,
        purpose=purpose,
        lane=lane or purpose,
        dedupe_key=dedupe_key,
    )


def _request_to_json(request: EffectRequest) -> dict[str, Any]:
    return {
        "kind": request.kind.value,
        "subject": request.subject,
        "payload": request.payload,
        "guild_id": request.guild_id,
        "purpose": request.purpose,
        "lane": request.lane,
        "dedupe_key": request.dedupe_key,
    }


def _request_from_json(data: dict[str, Any]) -> EffectRequest:
    return EffectRequest(
        kind=EffectKind(data["kind"]),
        subject=data["subject"],
        payload=dict(data["payload"]),
        guild_id=data.get("guild_id"),
        purpose=data["purpose"],
        lane=data["lane"],
        dedupe_key=data.get("dedupe_key"),
    )


@dataclass(frozen=True, slots=True)
class EffectRecord:
    id: int
    kind: EffectKind
    guild_id: int | None
    purpose: str
    lane: str
    subject: str
    payload: dict[str, Any]
    dedupe_key: str | None
    status: EffectStatus
    attempts: int
    next_attempt_at: datetime
    locked_until: datetime | None
    last_error: str | None
    result_id: int | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def nonce(self) -> str:
        """Deterministic per row (≤ 25 chars): Discord drops a resend with ``enforce_nonce``."""
        return f"fx{self.id}"

    @classmethod
    def from_row(cls, row: Effect) -> EffectRecord:
        return cls(
            id=row.id,
            kind=EffectKind(row.kind),
            guild_id=row.guild_id,
            purpose=row.purpose,
            lane=row.lane,
            subject=row.subject,
            payload=dict(row.payload or {}),
            dedupe_key=row.dedupe_key,
            status=EffectStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            locked_until=row.locked_until,
            last_error=row.last_error,
            result_id=row.result_id,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@dataclass(frozen=True, slots=True)
class DmState:
    user_id: int
    channel_id: int | None
    closed: bool
    closed_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a claimed effect, as the worker reports it back."""

    record: EffectRecord
    status: EffectStatus
    #: set when a failure should be told to organizers
    report: bool = False


EffectListener = Callable[[], None]


class EffectService:
    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        *,
        max_attempts: int = 8,
        retry_base_seconds: float = 5.0,
        retry_cap_seconds: float = 900.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._listeners: list[EffectListener] = []
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds

    # -- writing ---------------------------------------------------------------------------------

    def add_listener(self, listener: EffectListener) -> None:
        """Called after a transaction that wrote effects commits (the worker wakes up)."""
        self._listeners.append(listener)

    def _notify(self, *_: object) -> None:
        for listener in self._listeners:
            listener()

    async def enqueue(self, session: AsyncSession, *requests: EffectRequest) -> list[int]:
        """Write effects in the caller's transaction; the worker is woken once it commits.

        An effect whose ``dedupe_key`` exists already is not written again (its id is returned).
        """
        now = self._clock.now()
        existing = await self._existing_keys(session, [r.dedupe_key for r in requests])
        fresh: list[tuple[EffectRequest, Effect]] = []
        slots: list[Effect | int] = []
        for request in requests:
            key = request.dedupe_key
            if key is not None and key in existing:
                slots.append(existing[key])
                continue
            if request.supersedes:
                await self._supersede(session, request.subject, now)
            row = self._row(request, now)
            fresh.append((request, row))
            slots.append(row)
            if key is not None:
                existing[key] = row
        try:
            async with session.begin_nested():  # one round of inserts for a whole fan-out
                session.add_all([row for _request, row in fresh])
        except IntegrityError:  # another transaction wrote one of the keys first: one by one
            replaced = {
                id(row): await self._insert(session, request, now) for request, row in fresh
            }
            slots = [replaced.get(id(s), s) if isinstance(s, Effect) else s for s in slots]
        if requests:
            sa_event.listen(session.sync_session, "after_commit", self._notify, once=True)
        return [s.id if isinstance(s, Effect) else s for s in slots]

    @staticmethod
    async def _existing_keys(
        session: AsyncSession, keys: Sequence[str | None]
    ) -> dict[str, Effect | int]:
        wanted = sorted({k for k in keys if k is not None})
        found: dict[str, Effect | int] = {}
        for start in range(0, len(wanted), 500):
            rows = await session.execute(
                select(Effect.dedupe_key, Effect.id).where(
                    Effect.dedupe_key.in_(wanted[start : start + 500])
                )
            )
            found.update({key: effect_id for key, effect_id in rows.all() if key is not None})
        return found

    @staticmethod
    async def _supersede(session: AsyncSession, subject: str, now: datetime) -> None:
        await session.execute(
            update(Effect)
            .where(
                Effect.subject == subject,
                Effect.status == EffectStatus.PENDING,
                or_(Effect.locked_until.is_(None), Effect.locked_until < now),
            )
            .values(
                status=EffectStatus.SUPERSEDED,
                finished_at=now,
                last_error="superseded by a newer change",
            )
        )

    @staticmethod
    def _row(request: EffectRequest, now: datetime) -> Effect:
        return Effect(
            guild_id=request.guild_id,
            kind=request.kind,
            purpose=request.purpose[:32],
            lane=request.lane[:64],
            subject=request.subject[:120],
            payload=request.payload,
            dedupe_key=request.dedupe_key,
            status=EffectStatus.PENDING,
            attempts=0,
            next_attempt_at=now + request.delay,
            created_at=now,
        )

    async def enqueue_now(self, *requests: EffectRequest) -> list[int]:
        """Write effects in a transaction of their own (nothing else changes with them)."""
        async with self._sessions.write() as session:
            return await self.enqueue(session, *requests)

    async def amend_untried(
        self,
        session: AsyncSession,
        *,
        subject: str,
        purpose: str,
        amend: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> int | None:
        """Change the payload of the newest pending effect on ``subject`` for ``purpose`` that no
        worker has claimed or tried yet, in the caller's transaction (e.g. one welcome post
        naming every newcomer of a burst instead of one post each: a channel takes 5 messages
        per 5 s). ``amend`` returns the new payload, or None to leave it; the id, or None if
        nothing was amended. The row is locked (PostgreSQL) so a claim waits and sees the new
        payload; on SQLite the write transaction already excludes the claim."""
        row = await session.scalar(
            select(Effect)
            .where(
                Effect.subject == subject,
                Effect.purpose == purpose,
                Effect.status == EffectStatus.PENDING,
                Effect.attempts == 0,
                Effect.locked_until.is_(None),
            )
            .order_by(Effect.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None:
            return None
        payload = amend(dict(row.payload))
        if payload is None:
            return None
        row.payload = payload
        return row.id

    async def _insert(self, session: AsyncSession, request: EffectRequest, now: datetime) -> int:
        """One effect in a savepoint of its own (after a bulk insert met a concurrent key)."""
        if request.dedupe_key is not None:
            existing = await session.scalar(
                select(Effect.id).where(Effect.dedupe_key == request.dedupe_key)
            )
            if existing is not None:
                return existing
        row = self._row(request, now)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another transaction wrote the same dedupe key first
            existing = await session.scalar(
                select(Effect.id).where(Effect.dedupe_key == request.dedupe_key)
            )
            if existing is None:
                raise
            return existing
        return row.id

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, effect_id: int) -> EffectRecord | None:
        async with self._sessions.read() as session:
            row = await session.get(Effect, effect_id)
            return EffectRecord.from_row(row) if row else None

    async def find(
        self,
        *,
        status: EffectStatus | None = None,
        kind: EffectKind | None = None,
        guild_id: int | None = None,
        subject: str | None = None,
        dedupe_key: str | None = None,
    ) -> list[EffectRecord]:
        query = select(Effect)
        if status is not None:
            query = query.where(Effect.status == status)
        if kind is not None:
            query = query.where(Effect.kind == kind)
        if guild_id is not None:
            query = query.where(Effect.guild_id == guild_id)
        if subject is not None:
            query = query.where(Effect.subject == subject)
        if dedupe_key is not None:
            query = query.where(Effect.dedupe_key == dedupe_key)
        async with self._sessions.read() as session:
            rows = await session.scalars(query.order_by(Effect.id))
            return [EffectRecord.from_row(r) for r in rows]

    async def latest(self, subject: str) -> EffectRecord | None:
        """The newest effect on ``subject`` (e.g. a member's chapter role): has it happened?"""
        async with self._sessions.read() as session:
            row = await session.scalar(
                select(Effect).where(Effect.subject == subject).order_by(Effect.id.desc()).limit(1)
            )
            return EffectRecord.from_row(row) if row else None

    async def counts(self) -> dict[str, int]:
        """Rows per status (for /about and tests)."""
        async with self._sessions.read() as session:
            rows = await session.execute(
                select(Effect.status, func.count()).group_by(Effect.status)
            )
            return {str(EffectStatus(status)): int(n) for status, n in rows}

    async def next_wake(self) -> datetime | None:
        """When a pending effect next becomes claimable (its attempt time or its lease's end)."""
        pending = Effect.status == EffectStatus.PENDING
        free = or_(Effect.locked_until.is_(None), Effect.locked_until < Effect.next_attempt_at)
        async with self._sessions.read() as session:
            at = await session.scalar(select(func.min(Effect.next_attempt_at)).where(pending, free))
            held = await session.scalar(
                select(func.min(Effect.locked_until)).where(
                    pending, Effect.locked_until >= Effect.next_attempt_at
                )
            )
        times = [t for t in (at, held) if t is not None]
        return min(times) if times else None

    # -- claiming --------------------------------------------------------------------------------

    async def claim_batch(self, limit: int, lease: timedelta) -> list[EffectRecord]:
        """Take up to ``limit`` due effects for ``lease``: one per lane in turn, at most one per
        subject, none whose subject is already in flight."""
        now = self._clock.now()
        claimable = and_(
            Effect.status == EffectStatus.PENDING,
            or_(Effect.locked_until.is_(None), Effect.locked_until < now),
        )
        due = and_(claimable, Effect.next_attempt_at <= now)
        async with self._sessions.write() as session:
            busy = set(
                await session.scalars(
                    select(Effect.subject).where(
                        Effect.status == EffectStatus.PENDING, Effect.locked_until >= now
                    )
                )
            )
            # the oldest few of each lane, then one lane after another
            lanes = sorted(await session.scalars(select(Effect.lane).where(due).distinct()))
            queues = []
            for lane in lanes:
                rows = await session.execute(
                    select(Effect.id, Effect.subject)
                    .where(due, Effect.lane == lane)
                    .order_by(Effect.next_attempt_at, Effect.id)
                    .limit(limit * 2)
                )
                queues.append(list(rows.all()))
            candidates = [q[turn] for turn in range(limit * 2) for q in queues if turn < len(q)]
            chosen: list[int] = []
            for effect_id, subject in candidates:
                if subject in busy:
                    continue
                busy.add(subject)
                chosen.append(effect_id)
                if len(chosen) >= limit:
                    break
            claimed: list[EffectRecord] = []
            for effect_id in chosen:
                result = await session.execute(
                    update(Effect)
                    .where(Effect.id == effect_id, claimable)
                    .values(locked_until=now + lease, attempts=Effect.attempts + 1)
                )
                if getattr(result, "rowcount", 0):
                    row = await session.get(Effect, effect_id, populate_existing=True)
                    assert row is not None
                    claimed.append(EffectRecord.from_row(row))
            return claimed

    def _held(self, record: EffectRecord) -> Any:
        """The row is still held by the claim that produced ``record``."""
        return and_(
            Effect.id == record.id,
            Effect.status == EffectStatus.PENDING,
            Effect.locked_until == record.locked_until,
        )

    async def mark_applied(
        self, record: EffectRecord, *, result_id: int | None = None, note: str | None = None
    ) -> bool:
        """Done. ``result_id`` is what Discord returned (a message id); ``note`` says why
        nothing had to be done (e.g. the member had left). False if the claim was lost."""
        async with self._sessions.write() as session:
            result = await session.execute(
                update(Effect)
                .where(self._held(record))
                .values(
                    status=EffectStatus.APPLIED,
                    result_id=result_id,
                    last_error=note,
                    locked_until=None,
                    finished_at=self._clock.now(),
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.retry_base_seconds * (2 ** max(attempts - 1, 0))
        return timedelta(seconds=min(seconds, self.retry_cap_seconds))

    async def mark_retry(
        self,
        record: EffectRecord,
        error: str,
        *,
        at_least: timedelta = timedelta(0),
        count_attempt: bool = True,
    ) -> Outcome:
        """Try again later with exponential backoff (at least ``at_least``, e.g. a 429's
        retry-after), or fail for good after the last attempt. Rate limits pass
        ``count_attempt=False``: being asked to slow down is not a failed try."""
        if count_attempt and record.attempts >= self.max_attempts:
            return await self.mark_failed(record, f"{error} (after {record.attempts} tries)")
        now = self._clock.now()
        delay = max(self.backoff(record.attempts), at_least) if count_attempt else at_least
        values: dict[str, Any] = {
            "last_error": error[:ERROR_MAX_CHARS],
            "next_attempt_at": now + delay,
            "locked_until": None,
        }
        if not count_attempt:
            values["attempts"] = Effect.attempts - 1
        async with self._sessions.write() as session:
            await session.execute(update(Effect).where(self._held(record)).values(**values))
        return Outcome(record, EffectStatus.PENDING)

    async def mark_failed(self, record: EffectRecord, error: str) -> Outcome:
        """Failed for good, with the reason; organizers are to be told (except for reports),
        in the guild's next summary (:meth:`report_failures`)."""
        now = self._clock.now()
        report = record.purpose not in UNREPORTED_PURPOSES
        async with self._sessions.write() as session:
            result = await session.execute(
                update(Effect)
                .where(self._held(record))
                .values(
                    status=EffectStatus.FAILED,
                    last_error=error[:ERROR_MAX_CHARS],
                    locked_until=None,
                    finished_at=now,
                    reported_at=None if report else now,
                )
            )
            held = bool(getattr(result, "rowcount", 0))
        return Outcome(record, EffectStatus.FAILED, report=held and report)

    async def report_failures(
        self,
        guild_id: int,
        build: Callable[[list[EffectRecord]], EffectRequest | None],
        *,
        limit: int = 1000,
    ) -> int:
        """Tell organizers of the guild's failures not told yet, in one message: ``build`` turns
        them (oldest first) into the report, which is written in the same transaction that marks
        them reported, so each failure is told exactly once. How many were told."""
        unreported = and_(
            Effect.guild_id == guild_id,
            Effect.status == EffectStatus.FAILED,
            Effect.reported_at.is_(None),
        )
        async with self._sessions.write() as session:
            rows = list(
                await session.scalars(
                    select(Effect).where(unreported).order_by(Effect.id).limit(limit)
                )
            )
            if not rows:
                return 0
            records = [EffectRecord.from_row(row) for row in rows]
            report = build(records)
            if report is not None:
                await self.enqueue(session, report)
            await session.execute(
                update(Effect)
                .where(Effect.id.in_([r.id for r in records]))
                .values(reported_at=self._clock.now())
            )
            return len(records)

    async def unreported_failures(self, guild_id: int) -> int:
        """How many of the guild's failures organizers have not been told of yet."""
        async with self._sessions.read() as session:
            count = await session.scalar(
                select(func.count()).where(
                    Effect.guild_id == guild_id,
                    Effect.status == EffectStatus.FAILED,
                    Effect.reported_at.is_(None),
                )
            )
        return int(count or 0)

    async def release(self, record: EffectRecord) -> None:
        """Give a claim back without counting the attempt (the worker is shutting down)."""
        async with self._sessions.write() as session:
            await session.execute(
                update(Effect)
                .where(self._held(record))
                .values(locked_until=None, attempts=Effect.attempts - 1)
            )

    # -- direct messages -------------------------------------------------------------------------

    async def dm_state(self, user_id: int) -> DmState:
        async with self._sessions.read() as session:
            row = await session.get(DirectMessageState, user_id)
        if row is None:
            return DmState(user_id, None, closed=False)
        closed = row.closed_at is not None and self._clock.now() - row.closed_at < DM_CLOSED_RECHECK
        return DmState(user_id, row.channel_id, closed=closed, closed_reason=row.closed_reason)

    async def remember_dm_channel(self, user_id: int, channel_id: int | None) -> None:
        """Store (or with None forget) the member's DM channel, so a warm send is one request."""
        async with self._sessions.write() as session:
            row = await session.get(DirectMessageState, user_id)
            if row is None:
                row = DirectMessageState(user_id=user_id)
                session.add(row)
            row.channel_id = channel_id
            row.updated_at = self._clock.now()

    async def dms_closed(self, record: EffectRecord, reason: str) -> Outcome:
        """The member does not accept DMs from us (403 code 50007): record it on the member,
        fail the effect without a retry, and enqueue its fallback in the same transaction."""
        now = self._clock.now()
        user_id = int(record.payload["user_id"])
        fallback = record.payload.get("fallback")
        async with self._sessions.write() as session:
            result = await session.execute(
                update(Effect)
                .where(self._held(record))
                .values(
                    status=EffectStatus.FAILED,
                    last_error=reason[:ERROR_MAX_CHARS],
                    locked_until=None,
                    finished_at=now,
                    reported_at=now,  # closed DMs are the member's choice, not news
                )
            )
            if not getattr(result, "rowcount", 0):
                return Outcome(record, EffectStatus.FAILED)
            row = await session.get(DirectMessageState, user_id)
            if row is None:
                row = DirectMessageState(user_id=user_id)
                session.add(row)
            row.closed_at = now
            row.closed_reason = reason[:200]
            row.updated_at = now
            if fallback:
                await self.enqueue(session, _request_from_json(fallback))
        return Outcome(record, EffectStatus.FAILED)

    async def dms_open(self, user_id: int) -> None:
        """A DM went through: whatever was recorded as closed no longer holds."""
        async with self._sessions.write() as session:
            row = await session.get(DirectMessageState, user_id)
            if row is not None and row.closed_at is not None:
                row.closed_at = None
                row.closed_reason = None
                row.updated_at = self._clock.now()

    async def closed_dm_user_ids(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these members are known not to accept DMs (callers pick a channel instead)."""
        wanted = list(set(user_ids))
        if not wanted:
            return set()
        since = self._clock.now() - DM_CLOSED_RECHECK
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(DirectMessageState.user_id).where(
                    DirectMessageState.user_id.in_(wanted),
                    DirectMessageState.closed_at.is_not(None),
                    DirectMessageState.closed_at > since,
                )
            )
            return set(rows)
