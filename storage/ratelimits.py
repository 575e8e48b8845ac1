"""Rate-limit counters in labqueue's own database, as a storage backend of the ``limits`` library.

Every gunicorn worker (and every web container) must count the same failed logins: an in-memory counter per
process multiplies the limit by the number of processes and forgets it on every restart. The ``limits`` library
ships backends for Redis, Memcached and MongoDB only, and labqueue runs none of them; its database is already
shared by every web process, so the counters live there, one row per key and window (the fixed-window strategy
needs no more). A row whose window has passed is dead; each increment sweeps those away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from limits.storage import Storage
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import RateCounter

SCHEME = "labqueue+db"
# Each dialect's INSERT with its own ON CONFLICT clause; the two share the arguments used here, not a base class.
UPSERTS: dict[str, Callable[[type[RateCounter]], sqlite.Insert | postgresql.Insert]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_counters`` table; ``database`` is the process's own Database."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (a list, as limits declares it; its registry reads it once, at class creation)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *, database: Database, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.db = database

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the key's count, starting a new window of ``expiry`` seconds when none is open.

        Expired rows go first, in the same transaction, so the upsert only ever adds to a window still open; the
        upsert itself is atomic on SQLite (one writer at a time) and PostgreSQL (the conflicting row is locked)."""
        now = time.time()
        with self.db.session() as session:
            session.execute(delete(RateCounter).where(RateCounter.expires_at <= now))
            upsert = UPSERTS[session.get_bind().dialect.name](RateCounter).values(key=key, count=amount, expires_at=now + expiry)
            session.execute(upsert.on_conflict_do_update(index_elements=[RateCounter.key], set_={"count": RateCounter.count + amount}))
            return session.scalar(select(RateCounter.count).where(RateCounter.key == key)) or amount

    def _live(self, session: Session, key: str) -> RateCounter | None:
        row = session.get(RateCounter, key)
        return row if row is not None and row.expires_at > time.time() else None

    def get(self, key: str) -> int:
        with self.db.session() as session:
            row = self._live(session, key)
            return row.count if row is not None else 0

    def get_expiry(self, key: str) -> float:
        with self.db.session() as session:
            row = self._live(session, key)
            return row.expires_at if row is not None else time.time()

    def check(self) -> bool:
        try:
            with self.db.session() as session:
                session.execute(select(func.count()).select_from(RateCounter))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.db.session() as session:
            # A DML statement's result is a CursorResult; Session.execute's stubs say only Result, and SQLAlchemy's
            # changelog (2.0.44, typing) advises this cast to read rowcount.
            return cast(CursorResult[Any], session.execute(delete(RateCounter))).rowcount

    def clear(self, key: str) -> None:
        with self.db.session() as session:
            session.execute(delete(RateCounter).where(RateCounter.key == key))
