"""A job's output zip, read in place in the object store: its file list, single files, and the first rows of CSVs."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from storage.objects import ObjectStore, ObjectStoreError
from storage.remotefile import open_object

LOGGER = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_LISTED = 1000
CSV_PREVIEW_ROWS = 10
CSV_PREVIEW_BYTES = 64 * 1024
CSV_PREVIEW_COLUMNS = 30
IMAGE_PREVIEW_MAX_BYTES = 20 * 2**20

# What a browser may show inline; anything else is served as a download.
INLINE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".json": "application/json",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}


class OutputError(RuntimeError):
    """The output zip cannot be read: gone from the store, or damaged."""


@dataclass(frozen=True)
class OutputFile:
    name: str
    size: int

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1].lower()

    @property
    def content_type(self) -> str:
        return INLINE_TYPES.get(self.suffix, "application/octet-stream")

    @property
    def is_image(self) -> bool:
        return self.suffix in IMAGE_SUFFIXES and self.size <= IMAGE_PREVIEW_MAX_BYTES

    @property
    def is_csv(self) -> bool:
        return self.suffix == ".csv"


@dataclass(frozen=True)
class Listing:
    files: list[OutputFile]
    total_files: int  # may exceed len(files): only the first MAX_LISTED are listed
    total_bytes: int


@contextlib.contextmanager
def open_output(store: ObjectStore, key: str) -> Iterator[zipfile.ZipFile]:
    """The output zip, read through ranged requests: only its directory and the members asked for are fetched."""
    size = store.size(key)
    if size is None:
        raise OutputError("this job's output is no longer stored")
    with open_object(store, key, size) as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError) as exc:
            LOGGER.error("output %s is not a readable zip: %s", key, exc)
            raise OutputError("this job's output zip is damaged") from exc
        with archive:
            yield archive


def list_output(store: ObjectStore, key: str) -> Listing:
    with open_output(store, key) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
    files = [OutputFile(info.filename, info.file_size) for info in members[:MAX_LISTED]]
    return Listing(files, len(members), sum(info.file_size for info in members))


def _member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    return None if info.is_dir() else info


def iter_member(store: ObjectStore, key: str, name: str) -> tuple[OutputFile, Iterator[bytes]] | None:
    """One file of the output, decompressed as it streams; None when the zip has no such file.

    The returned iterator holds the zip open until it is exhausted or closed.
    """
    stack = contextlib.ExitStack()
    archive = stack.enter_context(open_output(store, key))
    info = _member(archive, name)
    if info is None:
        stack.close()
        return None

    def chunks() -> Iterator[bytes]:
        with stack, archive.open(info) as member:
            while chunk := member.read(CHUNK):
                yield chunk

    return OutputFile(info.filename, info.file_size), chunks()


def csv_preview(store: ObjectStore, key: str, names: list[str]) -> dict[str, list[list[str]]]:
    """The first rows of each named CSV file (a bounded read of each; a damaged file previews as nothing)."""
    previews: dict[str, list[list[str]]] = {}
    with open_output(store, key) as archive:
        for name in names:
            info = _member(archive, name)
            if info is None:
                continue
            try:
                with archive.open(info) as member:
                    head = member.read(CSV_PREVIEW_BYTES)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                LOGGER.warning("preview of %s in %s failed: %s", name, key, exc)
                continue
            previews[name] = _rows(head, complete=len(head) < CSV_PREVIEW_BYTES)
    return previews


def _rows(head: bytes, complete: bool) -> list[list[str]]:
    text = codecs.decode(head, "utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line may be cut mid-row
    rows = []
    try:
        for row in csv.reader(io.StringIO("\n".join(lines[: CSV_PREVIEW_ROWS + 1]))):
            rows.append([cell[:200] for cell in row[:CSV_PREVIEW_COLUMNS]])
    except csv.Error:
        return rows
    return rows


def safe_listing(store: ObjectStore, key: str) -> tuple[Listing | None, str | None]:
    """The listing, or None with a message for the page when the zip cannot be read now."""
    try:
        return list_output(store, key), None
    except OutputError as exc:
        return None, str(exc)
    except ObjectStoreError:
        return None, "the object store is unavailable; reload the page shortly"
