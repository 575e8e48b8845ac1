"""A dataset version as an uncompressed tar for Docker's put_archive, streamed from the object store.

Each file is checked against its manifest entry (size and sha256) as it passes,
so a damaged or changed object never becomes a complete cached copy.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from datetime import datetime

from storage.dataset_layout import FileEntry, Manifest, file_key
from storage.objects import ObjectStore

DIR_MODE = 0o755
FILE_MODE = 0o644


class DatasetDamaged(RuntimeError):
    """An object differs from what the version's manifest says it holds."""


def dataset_tar(store: ObjectStore, manifest: Manifest) -> Iterator[bytes]:
    """Folders first (a parent before its children), then each file; owned by root, readable by everyone."""
    mtime = int(datetime.fromisoformat(manifest.created_at).timestamp())
    folders = sorted({"/".join(entry.path.split("/")[:depth]) for entry in manifest.files for depth in range(1, entry.path.count("/") + 1)})
    for folder in folders:
        yield _header(folder, tarfile.DIRTYPE, DIR_MODE, 0, mtime)
    for entry in manifest.files:
        yield _header(entry.path, tarfile.REGTYPE, FILE_MODE, entry.size, mtime)
        yield from _checked(store, manifest, entry)
        if entry.size % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - entry.size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)


def _checked(store: ObjectStore, manifest: Manifest, entry: FileEntry) -> Iterator[bytes]:
    digest, size = hashlib.sha256(), 0
    for chunk in store.iter_object(file_key(manifest.name, manifest.version, entry.path)):
        size += len(chunk)
        if size > entry.size:
            raise DatasetDamaged(f"{manifest.ref}: {entry.path} is larger than its manifest says")
        digest.update(chunk)
        yield chunk
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise DatasetDamaged(f"{manifest.ref}: {entry.path} does not match its manifest (size or sha256)")


def _header(path: str, kind: bytes, mode: int, size: int, mtime: int) -> bytes:
    member = tarfile.TarInfo(path)
    member.type, member.mode, member.size, member.mtime = kind, mode, size, mtime
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    return member.tobuf(tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")
