"""Database engine and sessions; Alembic migrations, applied only by ``labqueue-admin migrate`` (and the start-up scripts
and test fixtures that run it): every other process checks the schema is current and refuses to start otherwise."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.changes import ChangeListener, announce_committed, forget_changes, stamp_job_changes

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x6C6162717565  # PostgreSQL advisory lock taken while migrating ("labque")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL and a busy timeout let the web workers and the producer write the same SQLite file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this code needs: migrating is the admin's step, never a side effect."""

    def __init__(self, current: str | None, needed: str) -> None:
        self.current, self.needed = current, needed
        at = current or "none (an empty database)"
        super().__init__(f"database schema is at {at}, this labqueue needs {needed}: run labqueue-admin migrate")


def _alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = url
    return config


def head_revision() -> str:
    """The newest migration, the schema this code is written against."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}: this installation is incomplete")
    return head


class Database:
    """One engine and its session factory per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Called with the newest change number after each commit that changed jobs (storage.changes).
        self.change_listeners: list[ChangeListener] = []
        event.listen(self.sessions, "before_flush", stamp_job_changes)
        event.listen(self.sessions, "after_commit", lambda session: announce_committed(session, self.change_listeners))
        event.listen(self.sessions, "after_rollback", forget_changes)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent). Processes that start together (gunicorn's workers,
        the producer) take turns: two applying the same migration at once would fail ("table already exists")."""
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        with self._migration_lock():
            command.upgrade(_alembic_config(self.url), "head")

    def schema_revision(self) -> str | None:
        """The migration the database was last brought to (None: never migrated)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def require_current(self) -> Database:
        """Refuse to work on a database whose schema is older (or newer) than this code's; returns itself."""
        current, needed = self.schema_revision(), head_revision()
        if current != needed:
            raise SchemaOutOfDate(current, needed)
        return self

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """A lock file next to a SQLite database, an advisory lock on PostgreSQL."""
        if self.url.startswith("sqlite:///"):
            with Path(self.url.removeprefix("sqlite:///") + ".migrate-lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
                try:
                    yield
                finally:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        else:
            yield
