"""Answers to hot read-only questions, kept until a write to a table they read commits.

A cache names the tables its answers are read from. ``sessions.generation(tables)`` changes
whenever a write session of this process commits a change to one of them, so an entry stored
under an older generation is never served. The generation is taken *before* the answer is read,
so a write committing while it is read makes the entry stale at once rather than hiding the write.

Writes made by another process (e.g. a timer fired by another shard's process) are not seen
here: ``max_age`` bounds how long such a change can go unnoticed. Concurrent misses for one key
share one load, so a burst of the same question after a change costs one query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import DeclarativeBase

from db.session import Sessions

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_AGE_SECONDS = 5.0
DEFAULT_MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    generation: tuple[int, ...]
    stored_at: float
    value: V


class ReadCache(Generic[K, V]):
    def __init__(
        self,
        sessions: Sessions,
        *models: type[DeclarativeBase],
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._sessions = sessions
        self._tables = tuple(str(model.__tablename__) for model in models)
        self._max_age = max_age
        self._max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}
        self._loading: dict[tuple[K, tuple[int, ...]], asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached answer for ``key``, or ``await load()`` (once for concurrent callers)."""
        generation = self._sessions.generation(self._tables)
        now = time.monotonic()
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.generation == generation
            and now - entry.stored_at < self._max_age
        ):
            return entry.value
        flight = (key, generation)
        pending = self._loading.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[flight] = future
        try:
            value = await load()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # mark it retrieved: the waiters re-raise it
            raise
        finally:
            del self._loading[flight]
        future.set_result(value)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = _Entry(generation, now, value)
        return value

    def discard(self, key: K) -> None:
        """Forget ``key``'s answer (for answers that also depend on something else, e.g. time)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
