"""Dataset versions in the database: reserve a number, publish it once its files and manifest are stored, find and
resolve versions.

A version's files go to ``datasets/<name>/v<N>/`` before anyone can see it, so
the number must be owned first: a ``pending`` row under the unique
(dataset, version) key is that claim. Publishing writes the manifest and only
then marks the row ``ready``; a writer that fails removes its claim and its
objects, and a claim left by a crashed writer expires after ``STALE_PENDING``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.dataset_layout import DatasetRef, FileEntry, LayoutError, Manifest, check_name, manifest_key, parse_ref
from storage.db import Database
from storage.models import Dataset, DatasetVersion, utcnow
from storage.objects import ObjectStore, ObjectStoreError

LOGGER = logging.getLogger(__name__)

PENDING = "pending"
READY = "ready"
STALE_PENDING = timedelta(hours=2)
RESERVE_ATTEMPTS = 5


class DatasetError(ValueError):
    """A dataset request refused; ``code`` says why (the web maps it to a status), the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who asks: versions record the name; only the dataset's owner and admins may add versions."""

    id: int | None
    name: str
    is_admin: bool = False


@dataclass(frozen=True)
class Reservation:
    name: str
    version: int
    parent: int | None  # the version a readings append builds on
    description: str
    created_by: str

    @property
    def ref(self) -> DatasetRef:
        return DatasetRef(self.name, self.version)


def check_writable(session: Session, name: str, actor: Actor) -> Dataset | None:
    """The dataset if ``actor`` may add versions to it, None when it does not exist yet (and the name is usable)."""
    try:
        check_name(name)
    except LayoutError as exc:
        raise DatasetError("bad_name", str(exc)) from exc
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is not None and not actor.is_admin and dataset.owner_id != actor.id:
        raise DatasetError("forbidden", f"only the owner of {name!r} or an admin may add versions to it")
    return dataset


def reserve(db: Database, name: str, actor: Actor, description: str, follow_latest: bool = False) -> Reservation:
    """Claim the next version number of ``name`` (creating the dataset if needed).

    With ``follow_latest`` the new version must come right after the newest ready one (it builds on it), so any
    other writer in flight is a conflict; otherwise a concurrent claim just moves this one to the next number.
    """
    for _attempt in range(RESERVE_ATTEMPTS):
        try:
            with db.session() as session:
                return _claim(session, name, actor, description, follow_latest)
        except IntegrityError:
            if follow_latest:
                break
            LOGGER.info("version number of %s taken concurrently; trying the next", name)
    raise DatasetError("busy", f"another version of {name!r} is being added right now; try again when it is done")


def _claim(session: Session, name: str, actor: Actor, description: str, follow_latest: bool) -> Reservation:
    dataset = check_writable(session, name, actor)
    if dataset is None:
        dataset = Dataset(name=name, description=description, owner_id=actor.id)
        session.add(dataset)
        session.flush()
    elif description and not follow_latest:
        dataset.description = description
    session.execute(
        delete(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.status == PENDING,
            DatasetVersion.created_at < utcnow() - STALE_PENDING,
        )
    )
    rows = session.execute(select(DatasetVersion.version, DatasetVersion.status).where(DatasetVersion.dataset_id == dataset.id)).all()
    latest = max((version for version, status in rows if status == READY), default=None)
    if follow_latest:
        if any(status == PENDING for _version, status in rows):
            raise DatasetError("busy", f"another version of {name!r} is being added right now; try again when it is done")
        number, parent = (latest or 0) + 1, latest
    else:
        number, parent = max((version for version, _status in rows), default=0) + 1, None
    session.add(
        DatasetVersion(
            dataset_id=dataset.id, version=number, status=PENDING, description=description, created_by=actor.name, parent_version=parent
        )
    )
    session.flush()
    return Reservation(name, number, parent, description, actor.name)


def publish(db: Database, store: ObjectStore, reservation: Reservation, entries: Iterable[FileEntry]) -> DatasetVersion:
    """Store the manifest, then make the version visible; from here on it never changes."""
    files = tuple(sorted(entries, key=lambda entry: entry.path))
    now = utcnow()
    manifest = Manifest(
        name=reservation.name,
        version=reservation.version,
        created_by=reservation.created_by,
        created_at=now.isoformat().replace("+00:00", "Z"),
        description=reservation.description,
        parent=reservation.parent,
        files=files,
    )
    raw = manifest.encode()
    store.put_bytes(manifest_key(reservation.name, reservation.version), raw, "application/json")
    with db.session() as session:
        row = _pending_row(session, reservation)
        row.status = READY
        row.ready_at = now
        row.files = [asdict(entry) for entry in files]
        row.file_count = len(files)
        row.total_bytes = manifest.total_bytes
        row.manifest_sha256 = hashlib.sha256(raw).hexdigest()
    return row


def discard(db: Database, store: ObjectStore, reservation: Reservation, keys: Iterable[str]) -> None:
    """Undo a failed write: its objects and its claim (best effort; a claim left behind expires)."""
    for key in keys:
        try:
            store.remove(key)
        except ObjectStoreError:
            LOGGER.warning("could not remove %s of the failed version %s", key, reservation.ref)
    try:
        with db.session() as session:
            session.delete(_pending_row(session, reservation))
    except Exception:  # the original failure matters more; the claim expires by itself
        LOGGER.exception("could not release the claim on %s", reservation.ref)


def _pending_row(session: Session, reservation: Reservation) -> DatasetVersion:
    return session.scalars(
        select(DatasetVersion)
        .join(Dataset)
        .where(Dataset.name == reservation.name, DatasetVersion.version == reservation.version, DatasetVersion.status == PENDING)
    ).one()


# -- reading -------------------------------------------------------------------------------------------------------


def ready_versions(dataset: Dataset) -> list[DatasetVersion]:
    """Newest first."""
    return [version for version in dataset.versions if version.status == READY]


def list_datasets(session: Session) -> list[tuple[Dataset, DatasetVersion]]:
    """Every dataset with a ready version, with its newest ready version, by name."""
    newest = (
        select(DatasetVersion.dataset_id, func.max(DatasetVersion.version).label("version"))
        .where(DatasetVersion.status == READY)
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    query = (
        select(Dataset, DatasetVersion)
        .join(newest, newest.c.dataset_id == Dataset.id)
        .join(DatasetVersion, (DatasetVersion.dataset_id == Dataset.id) & (DatasetVersion.version == newest.c.version))
        .order_by(Dataset.name)
    )
    return [(dataset, version) for dataset, version in session.execute(query).all()]


def get_dataset(session: Session, name: str) -> Dataset | None:
    """A dataset that has at least one ready version (one whose first version is still uploading does not exist yet)."""
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None or not ready_versions(dataset):
        return None
    return dataset


def resolve_refs(session: Session, texts: Iterable[str]) -> list[str]:
    """Turn a job's ``name`` / ``name@version`` choices into exact ``name@version`` references.

    Raises DatasetError (``unknown_dataset``) for a name or version that does not exist, and for a name chosen
    twice (each dataset is mounted at /data/<name>/).
    """
    resolved: list[str] = []
    seen: set[str] = set()
    for text in texts:
        if not text.strip():
            continue
        try:
            ref = parse_ref(text)
        except LayoutError as exc:
            raise DatasetError("unknown_dataset", str(exc)) from exc
        if ref.name in seen:
            raise DatasetError("unknown_dataset", f"dataset {ref.name!r} is chosen twice; a job mounts one version of it")
        seen.add(ref.name)
        dataset = get_dataset(session, ref.name)
        if dataset is None:
            raise DatasetError("unknown_dataset", f"there is no dataset {ref.name!r}")
        versions = [version.version for version in ready_versions(dataset)]
        if ref.version is not None and ref.version not in versions:
            raise DatasetError("unknown_dataset", f"dataset {ref.name!r} has no version {ref.version} (it has {_span(versions)})")
        resolved.append(str(DatasetRef(ref.name, ref.version or versions[0])))
    return resolved


def _span(versions: list[int]) -> str:
    return f"v{versions[-1]}" if len(versions) == 1 else f"v{versions[-1]} to v{versions[0]}"
