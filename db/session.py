"""Engine and session factory, with the kind of transaction explicit: ``read()`` or ``write()``.

SQLite gets WAL, foreign keys and a busy timeout on every connection. A write transaction starts
with ``BEGIN IMMEDIATE``: the write lock is taken up front, so concurrent writers queue on the busy
timeout instead of failing with "database is locked" when a read lock cannot be upgraded. A read
transaction starts with a plain (deferred) ``BEGIN``: under WAL it never waits for the write lock
and sees one consistent snapshot from its first query to its end. On PostgreSQL both are ordinary
transactions, as before.

Services open ``sessions.read()`` for answers and ``sessions.write()`` for changes; a read session
refuses to write (a write in a deferred SQLite transaction could fail with "database is locked"
instead of queueing). Plain ``sessions()`` / ``sessions.begin()`` still work and are write sessions.

Every committed write session bumps a counter per table it wrote (``sessions.generation(...)``),
so an answer cached under the counters of the tables it read is stale exactly when one of them
changed in this process (see ``bot.services.read_cache``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "chapterbot_read_only"  #: execution option of a read session's connections
WRITE_TRACKER = "chapterbot_write_tracker"  #: session.info key of a write session's tracker
WRITTEN = "chapterbot_written"  #: session.info key: tables written in the current transaction
ANY_TABLE = "*"  #: written when a statement's table is unknown: every generation changes


class ReadOnlySessionError(RuntimeError):
    """Something tried to write in a read session: open ``sessions.write()`` instead."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for ``url`` with the per-backend settings this project relies on."""
    kwargs: dict[str, Any] = {"echo": echo}
    if not is_sqlite(url):
        kwargs["pool_pre_ping"] = True
        return create_async_engine(url, **kwargs)

    kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves; pysqlite's implicit BEGIN is DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class ReadOnlySession(Session):
    """The sync session behind a read session: flushing changes or running DML raises."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    raise ReadOnlySessionError("a read session cannot write; use sessions.write()")


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("a read session cannot write; use sessions.write()")


class WriteTracker:
    """Per-table write counters of one database, bumped when a write session commits."""

    def __init__(self) -> None:
        self._counts: defaultdict[str, int] = defaultdict(int)

    def generation(self, tables: Iterable[str]) -> tuple[int, ...]:
        return (self._counts[ANY_TABLE], *(self._counts[name] for name in tables))

    def committed(self, tables: Iterable[str]) -> None:
        for name in tables:
            self._counts[name] += 1


def _written(session: Session) -> set[str]:
    written: set[str] = session.info.setdefault(WRITTEN, set())
    return written


@event.listens_for(Session, "before_flush")
def _note_flushed_tables(session: Session, _context: Any, _instances: Any) -> None:
    if WRITE_TRACKER in session.info:
        for instance in (*session.new, *session.dirty, *session.deleted):
            table = getattr(type(instance), "__table__", None)
            _written(session).add(table.name if isinstance(table, Table) else ANY_TABLE)


@event.listens_for(Session, "do_orm_execute")
def _note_dml_tables(state: ORMExecuteState) -> None:
    if WRITE_TRACKER in state.session.info and (
        state.is_insert or state.is_update or state.is_delete
    ):
        table = getattr(state.statement, "table", None)
        _written(state.session).add(table.name if isinstance(table, Table) else ANY_TABLE)


@event.listens_for(Session, "after_commit")
def _bump_generations(session: Session) -> None:
    tracker = session.info.get(WRITE_TRACKER)
    written = session.info.pop(WRITTEN, None)
    if tracker is not None and written:
        tracker.committed(written)


@event.listens_for(Session, "after_rollback")
def _forget_written(session: Session) -> None:
    session.info.pop(WRITTEN, None)


class Sessions(async_sessionmaker[AsyncSession]):
    """The session factory services get: ``read()`` for answers, ``write()`` for changes.

    Both are context managers yielding an ``AsyncSession`` inside a transaction that commits when
    the block ends (rolls back on an exception).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.tracker = WriteTracker()
        super().__init__(engine, expire_on_commit=False, info={WRITE_TRACKER: self.tracker})
        self._readers = async_sessionmaker(
            engine.execution_options(**{READ_ONLY_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=ReadOnlySession,
        )

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-only transaction: one consistent snapshot, never waits for the write lock."""
        return self._readers.begin()

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A write transaction: on SQLite it takes the write lock first (``BEGIN IMMEDIATE``)."""
        return self.begin()

    def generation(self, tables: Iterable[str]) -> tuple[int, ...]:
        """Changes whenever a write session of this factory commits a change to ``tables``."""
        return self.tracker.generation(tables)


def create_session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def backend_name(engine: AsyncEngine) -> str:
    return engine.dialect.name
