"""Putting a dataset's files into the object store in one streaming pass that also hashes and counts them.

An uploaded file (or a zip member, or a previous version's readings followed by
new rows) arrives as a sequence of chunks; ``CountingReader`` hands them to the
MinIO SDK as a file object while it computes the sha256, the size and, for CSV
files, the number of data rows. Nothing is read twice and nothing is held whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from storage.dataset_layout import FileEntry, is_csv
from storage.objects import ObjectStore

CHUNK = 1024 * 1024


class RowCounter:
    """Counts CSV records as RFC 4180 reads them: a newline inside double quotes does not end a record.

    Splitting each chunk at quotes keeps the work in C: every quote flips the
    quoted state, and an escaped quote ("") flips it twice.
    """

    def __init__(self) -> None:
        self.newlines = 0
        self.quoted = False
        self.last = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if b'"' not in chunk:
            if not self.quoted:
                self.newlines += chunk.count(b"\n")
        else:
            for index, part in enumerate(chunk.split(b'"')):
                if index:
                    self.quoted = not self.quoted
                if not self.quoted:
                    self.newlines += part.count(b"\n")
        self.last = chunk[-1:]

    @property
    def records(self) -> int:
        """Records including the header; a last line without a newline counts too."""
        return self.newlines + (1 if self.last not in (b"", b"\n") else 0)

    @property
    def data_rows(self) -> int:
        return max(0, self.records - 1)


class CountingReader:
    """A read-only file object over chunks, hashing, sizing and (optionally) counting rows as it is read."""

    def __init__(self, chunks: Iterable[bytes], count_rows: bool = False) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = bytearray()
        self._done = False
        self.digest = hashlib.sha256()
        self.size = 0
        self.rows = RowCounter() if count_rows else None

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        cut = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        with memoryview(self._buffer) as view:  # one copy of a part (16 MiB for the SDK), not two
            data = bytes(view[:cut])
        del self._buffer[:cut]
        self.digest.update(data)
        self.size += len(data)
        if self.rows is not None:
            self.rows.feed(data)
        return data

    def entry(self, path: str) -> FileEntry:
        return FileEntry(path, self.size, self.digest.hexdigest(), self.rows.data_rows if self.rows is not None else None)


def file_chunks(file: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    while data := file.read(chunk):
        yield data


def store_file(store: ObjectStore, key: str, path: str, chunks: Iterable[bytes], size: int) -> FileEntry:
    """Stream ``size`` bytes to ``key``; the entry records what was actually read, for the manifest.

    Raises ValueError when the source yields another number of bytes than promised (the object is then incomplete
    and the caller discards the version).
    """
    reader = CountingReader(chunks, count_rows=is_csv(path))
    store.put_stream(key, reader, size, "text/csv" if is_csv(path) else "application/octet-stream")
    if reader.read(1) or reader.size != size:
        raise ValueError(f"{path!r} did not have the {size} bytes it declared")
    return reader.entry(path)
