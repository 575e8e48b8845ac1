"""A new dataset version from uploaded files: plain files as they are, zips unpacked (checked like job zips).

Everything is checked before a version number is claimed, so a refused upload
leaves no trace; then each file streams from its spooled upload (or from the
zip, member by member) to the object store.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from storage.archive import ArchiveError, ArchiveLimits, inspect_data_zip, iter_data_members
from storage.dataset_files import file_chunks, store_file
from storage.dataset_layout import FileEntry, LayoutError, check_path, file_key
from storage.datasets import Actor, DatasetError, check_writable, discard, publish, reserve
from storage.db import Database
from storage.models import DatasetVersion
from storage.objects import ObjectStore, ObjectStoreError

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadPart:
    """One uploaded file, seekable (Werkzeug spools uploads to disk): a data file, or a zip to unpack."""

    filename: str
    file: BinaryIO

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")

    @property
    def path(self) -> str:
        """The file's name without any folder a client may have sent along."""
        return self.filename.replace("\\", "/").rsplit("/", 1)[-1]


def create_version(
    db: Database, store: ObjectStore, actor: Actor, name: str, description: str, parts: list[UploadPart], limits: ArchiveLimits
) -> DatasetVersion:
    """Check every part, claim the next version of ``name``, store the files, publish the manifest."""
    if not parts:
        raise DatasetError("no_file", "send one or more files (or a zip) as multipart fields named 'file'")
    with db.session() as session:
        check_writable(session, name, actor)
    _plan(parts, limits)
    reservation = reserve(db, name, actor, description.strip())
    written: list[str] = []
    try:
        entries = list(_store_all(store, reservation.name, reservation.version, parts, limits, written))
        return publish(db, store, reservation, entries)
    except ArchiveError as exc:  # a member that does not unpack to what the zip declared
        discard(db, store, reservation, written)
        raise DatasetError(exc.code, str(exc)) from exc
    except ObjectStoreError as exc:
        discard(db, store, reservation, written)
        raise DatasetError("storage_unavailable", "the object store is unavailable; nothing was stored, try again shortly") from exc
    except BaseException:
        discard(db, store, reservation, written)
        raise


def _plan(parts: list[UploadPart], limits: ArchiveLimits) -> None:
    """Refuse bad zips, bad file names, duplicates and too many files before anything is stored."""
    paths: list[str] = []
    for part in parts:
        if part.is_zip:
            try:
                paths.extend(member.path for member in inspect_data_zip(part.file, limits))
            except ArchiveError as exc:
                raise DatasetError(exc.code, f"{part.path}: {exc}") from exc
        else:
            paths.append(part.path)
    files: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        try:
            check_path(path)
        except LayoutError as exc:
            raise DatasetError("bad_name", str(exc)) from exc
        steps = path.split("/")
        parents = {"/".join(steps[:depth]) for depth in range(1, len(steps))}
        if path in files:
            raise DatasetError("duplicate_name", f"{path!r} is uploaded twice")
        if path in folders or parents & files:
            raise DatasetError("duplicate_name", f"{path!r} is both a file and a folder")
        files.add(path)
        folders |= parents
    if len(paths) > limits.max_entries:
        raise DatasetError("too_many_entries", f"a version holds at most {limits.max_entries} files")


def _store_all(
    store: ObjectStore, name: str, version: int, parts: list[UploadPart], limits: ArchiveLimits, written: list[str]
) -> Iterator[FileEntry]:
    for part in parts:
        for path, chunks, size in _files_of(part, limits):
            key = file_key(name, version, path)
            written.append(key)
            yield store_file(store, key, path, chunks, size)


def _files_of(part: UploadPart, limits: ArchiveLimits) -> Iterator[tuple[str, Iterator[bytes], int]]:
    if part.is_zip:
        for member, chunks in iter_data_members(part.file, limits):
            yield member.path, chunks, member.size
        return
    size = part.file.seek(0, io.SEEK_END)
    part.file.seek(0)
    yield part.path, file_chunks(part.file), size
