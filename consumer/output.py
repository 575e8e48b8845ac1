"""Turns the tar stream of ``/job/output`` that Docker hands back into the job's output zip, within a size cap."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

COPY_CHUNK = 1024 * 1024


class OutputTooLarge(Exception):
    """The job wrote more under output/ than the output limit allows."""


class IterReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks, so tarfile can stream what docker-py yields."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass
class OutputSummary:
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def tar_to_zip(chunks: Iterable[bytes], target: IO[bytes], max_bytes: int) -> OutputSummary:
    """Write regular files of the tar (top folder ``output/`` stripped) into a zip on ``target``.

    Symlinks and special files are left out and named in the summary: following them could read outside the job.
    """
    summary = OutputSummary()
    reader = io.BufferedReader(IterReader(chunks), buffer_size=COPY_CHUNK)
    with tarfile.open(fileobj=reader, mode="r|") as tar, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for member in tar:
            name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not name or member.isdir():
                continue
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                summary.skipped.append(name)
                continue
            summary.bytes += member.size
            if summary.bytes > max_bytes:
                raise OutputTooLarge(f"output/ holds more than the limit of {max_bytes} bytes")
            info = zipfile.ZipInfo(name, date_time=_zip_time(member.mtime))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (member.mode & 0o777 | 0o100000) << 16
            with archive.open(info, "w", force_zip64=member.size > 2**31) as sink:
                while block := source.read(COPY_CHUNK):
                    sink.write(block)
            summary.files += 1
    return summary


def empty_tar() -> list[bytes]:
    """The tar of an empty output/ (the job wrote none): an empty output zip, not an error."""
    return [b"\0" * 1024]


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    stamp = time.gmtime(max(mtime, 315532800))  # zip cannot store times before 1980
    return stamp[:6]
