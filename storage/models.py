"""Database tables: users, API tokens, jobs and their change numbers, stream leases, the publish outbox, recorded
events, consumers seen, datasets, rate counters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored naive in UTC and handed back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use storage.models.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Fair-use limits of this user; None means the server's default (storage.limits).
    max_queued: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_running: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Carried in every browser session; raising it (logout, password change or reset, disabling) ends them all.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    project: Mapped[str] = mapped_column(String(100))
    # The researcher's own words for the job: a name (the project's by default), free-text notes and tags.
    name: Mapped[str] = mapped_column(String(200), default="", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    runtime: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), index=True, default="queued")
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    time_limit: Mapped[int] = mapped_column(Integer)
    memory_limit: Mapped[int] = mapped_column(Integer)
    disk_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)  # MiB under /job; None: from before disk limits
    input_size: Mapped[int] = mapped_column(BigInteger)
    input_sha256: Mapped[str] = mapped_column(String(64))
    input_key: Mapped[str] = mapped_column(String(255))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    consumer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    container_runtime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    output_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    output_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    log_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    wall_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    environment: Mapped[str | None] = mapped_column(String(16), nullable=True)  # base, cached or built
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # objects removed by retention
    # Where this row's latest change sits in the one order of all job changes (storage.changes): live streams'
    # event ids, and what a reconnecting stream asks for ("everything after N").
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)

    owner: Mapped[User] = relationship()


class ChangeCounter(Base):
    """One row: the newest job change's number. Taking the next number locks the row until commit, so numbers
    become visible in the order they were taken, and a reader of "changes after N" never skips one."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class StreamLease(Base):
    """One open live-update stream, so the per-user cap holds across web processes; a lease its process stops
    renewing (the process died) expires and no longer counts."""

    __tablename__ = "stream_leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    holder: Mapped[str] = mapped_column(String(255), index=True)  # host:pid of the web process serving it
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OutboxEntry(Base):
    """A message accepted with the job in one transaction, published later if the fast path could not."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    routing_key: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # Held back while its owner is at their running limit; the relay releases it when a slot is theirs.
    held: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class RecordedEvent(Base):
    """Every job event applied, by its id, so a duplicate delivery is recognised and ignored."""

    __tablename__ = "job_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20))
    applied: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsumerSeen(Base):
    """The last heartbeat of each consumer, for the health endpoint and the admin page."""

    __tablename__ = "consumers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    runtime: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    slots: Mapped[int] = mapped_column(Integer)
    busy: Mapped[int] = mapped_column(Integer)
    paused: Mapped[str] = mapped_column(String(500), default="", server_default="")  # why it takes no new job; "" when it does
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(Base):
    """A named collection of sensor data; its contents live in versions, each immutable once ready."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Who may add versions besides admins; None for datasets labqueue made itself (the demo).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User | None] = relationship()
    versions: Mapped[list[DatasetVersion]] = relationship(back_populates="dataset", order_by="DatasetVersion.version.desc()")


class DatasetVersion(Base):
    """One version: reserved as ``pending`` while its files are uploaded, ``ready`` once its manifest is stored.

    The (dataset, version) key is what serialises concurrent writers: only one can reserve a given number.
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # the manifest's entries, for the pages
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")

    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class RateCounter(Base):
    """One rate limit's counter in its current window (storage.ratelimits), shared by every web process."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch, as the limits library counts
