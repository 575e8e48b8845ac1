"""Sensor readings appended to a dataset as a new version.

The readings are checked first, their good rows written to a temporary file
(never to memory). Then the new version's readings.csv streams to the object
store as the previous version's readings.csv followed by the new rows, and
every other file of the previous version is copied inside the object store.
"""

from __future__ import annotations

import io
import itertools
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from storage.dataset_files import file_chunks, store_file
from storage.dataset_layout import DatasetRef, FileEntry, LayoutError, Manifest, file_key, load_manifest
from storage.datasets import Actor, DatasetError, Reservation, check_writable, discard, publish, reserve
from storage.db import Database
from storage.models import DatasetVersion
from storage.objects import ObjectStore, ObjectStoreError
from storage.readings import HEADER, READINGS_FILE, Checked, ReadingsError, check_csv, check_records

LOGGER = logging.getLogger(__name__)

HEADER_LINE = (",".join(HEADER) + "\n").encode()
HEADER_PEEK = 4096


@dataclass
class Ingested:
    """The check's outcome and, when anything was stored, the new version."""

    checked: Checked
    version: DatasetVersion | None = None


def ingest_readings(
    db: Database, store: ObjectStore, actor: Actor, name: str, *, csv_file: IO[bytes] | None = None, records: Any = None, skip_invalid: bool = False
) -> Ingested:
    """Check readings (a CSV upload or JSON records) and append the good ones as a new version of ``name``.

    Nothing is stored when a row is bad, unless ``skip_invalid``, nor when no row is good (``version`` is then
    None); a dataset that does not exist yet is created.
    """
    with db.session() as session:
        check_writable(session, name, actor)
    with tempfile.TemporaryFile() as rows:
        text = io.TextIOWrapper(rows, encoding="utf-8", newline="")
        try:
            checked = check_csv(csv_file, text) if csv_file is not None else check_records(records, text)
        except ReadingsError as exc:
            raise DatasetError("bad_readings", str(exc)) from exc
        text.flush()
        text.detach()
        if (checked.rejected and not skip_invalid) or not checked.accepted:
            return Ingested(checked)
        size = rows.seek(0, io.SEEK_END)
        rows.seek(0)
        skipped = f", {checked.rejected} invalid skipped" if checked.rejected else ""
        reservation = reserve(db, name, actor, f"{checked.accepted} readings appended{skipped}", follow_latest=True)
        return Ingested(checked, _append(db, store, reservation, rows, size))


def _append(db: Database, store: ObjectStore, reservation: Reservation, rows: BinaryIO, size: int) -> DatasetVersion:
    written: list[str] = []
    try:
        parent = _parent_manifest(store, reservation)
        previous = {entry.path: entry for entry in parent.files} if parent else {}
        key = file_key(reservation.name, reservation.version, READINGS_FILE)
        written.append(key)
        entries = [_write_readings(store, reservation, previous.get(READINGS_FILE), key, rows, size)]
        for entry in previous.values():
            if entry.path == READINGS_FILE:
                continue
            target = file_key(reservation.name, reservation.version, entry.path)
            written.append(target)
            store.copy(file_key(reservation.name, reservation.parent or 0, entry.path), target)
            entries.append(entry)
        return publish(db, store, reservation, entries)
    except ObjectStoreError as exc:
        discard(db, store, reservation, written)
        raise DatasetError("storage_unavailable", "the object store is unavailable; nothing was stored, try again shortly") from exc
    except BaseException:
        discard(db, store, reservation, written)
        raise


def _parent_manifest(store: ObjectStore, reservation: Reservation) -> Manifest | None:
    if reservation.parent is None:
        return None
    try:
        manifest, _digest = load_manifest(store, DatasetRef(reservation.name, reservation.parent))
    except LayoutError as exc:
        raise DatasetError("cannot_append", f"version {reservation.parent} cannot be read: {exc}") from exc
    return manifest


def _write_readings(
    store: ObjectStore, reservation: Reservation, previous: FileEntry | None, key: str, rows: BinaryIO, size: int
) -> FileEntry:
    """The previous readings.csv (whose columns must match), a newline if it lacks one, then the new rows."""
    if previous is None:
        return store_file(store, key, READINGS_FILE, itertools.chain([HEADER_LINE], file_chunks(rows)), len(HEADER_LINE) + size)
    source = file_key(reservation.name, reservation.parent or 0, READINGS_FILE)
    head = b"".join(store.iter_object(source, 0, min(previous.size, HEADER_PEEK)))
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip()
    if [column.strip().lower() for column in first.split(",")] != list(HEADER):
        raise DatasetError(
            "cannot_append",
            f"readings.csv of version {reservation.parent} has the columns {first[:200]!r}, not {','.join(HEADER)}; "
            "upload a new version instead",
        )
    ends_open = b"".join(store.iter_object(source, previous.size - 1, 1)) != b"\n"
    glue = [b"\n"] if ends_open else []
    chunks = itertools.chain(store.iter_object(source), glue, file_chunks(rows))
    return store_file(store, key, READINGS_FILE, chunks, previous.size + len(glue) + size)
