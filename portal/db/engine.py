"""Engine and session handling: one engine per app, SQLite tuned for concurrent readers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; for SQLite, create the parent directory and enable WAL + foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """Owns the engine and hands out sessions; ``transaction()`` commits or rolls back as a whole."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._shared = threading.local()  # the session of an open `shared_reads()` block, per thread

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading; inside a `shared_reads()` block of this thread, that block's session."""
        shared = getattr(self._shared, "session", None)
        if shared is not None:
            yield shared
            return
        with self._sessions() as session:
            yield session

    @contextmanager
    def shared_reads(self) -> Iterator[None]:
        """Run every `reader()` of this thread inside the block on one session: one pool checkout (and, on
        PostgreSQL, one liveness ping, BEGIN and ROLLBACK) instead of one per read, and rows already read (by
        primary key) come from the session's identity map instead of another query.

        For read-only work such as rendering a page: a `transaction()` inside the block uses its own session,
        and what it writes may not be seen by the shared session's already-loaded objects. Nested blocks reuse
        the outer one.
        """
        if getattr(self._shared, "session", None) is not None:
            yield
            return
        with self._sessions() as session:
            # The identity map holds objects weakly; keep them for the block so later reads by key find them.
            kept: list[object] = []
            event.listen(session, "loaded_as_persistent", lambda _s, obj: kept.append(obj))
            self._shared.session = session
            try:
                yield
            finally:
                self._shared.session = None

    def dispose(self) -> None:
        self.engine.dispose()
