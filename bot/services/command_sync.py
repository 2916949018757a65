"""Remembers what application-command payload was last synced, so start-up syncs only changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot.clock import Clock
from db.models import CommandSyncState
from db.session import Sessions


def payload_hash(payload: list[dict[str, Any]]) -> str:
    canonical = sorted(payload, key=lambda c: (c.get("type", 1), c.get("name", "")))
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


class CommandSyncService:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def is_current(self, scope: str, digest: str) -> bool:
        async with self._sessions.read() as session:
            row = await session.get(CommandSyncState, scope)
            return row is not None and row.payload_hash == digest

    async def record(self, scope: str, digest: str) -> None:
        async with self._sessions.write() as session:
            row = await session.get(CommandSyncState, scope)
            if row is None:
                session.add(
                    CommandSyncState(scope=scope, payload_hash=digest, synced_at=self._clock.now())
                )
            else:
                row.payload_hash = digest
                row.synced_at = self._clock.now()
