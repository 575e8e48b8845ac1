"""A job's log, capped: the head and the tail are kept, the cut in between is marked.

What labqueue writes itself (its notes, the environment build's output) and the cut are recorded as byte ranges
beside the bytes (storage.logmarks), so the job's own output can never pass for them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from storage.logmarks import Mark


class LogCapture:
    """Collects output chunks, keeping at most ``limit`` bytes: the first half and the most recent half."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._spans: list[tuple[str, int, int]] = []  # (kind, start, end) in offsets of everything written
        self._lock = threading.Lock()
        self.version = 0
        self.total = 0

    def write(self, chunk: bytes) -> None:
        with self._lock:
            self._write(chunk)

    def note(self, text: str) -> None:
        """A line of labqueue's own (on a line of its own: newlines are added), marked as such."""
        with self._lock:
            last = self._tail[-1:] or self._head[-1:]
            if last not in (b"", b"\n"):
                self._write(b"\n")
            start = self.total
            self._write(text.encode() + b"\n")
            self._spans.append(("labqueue", start, self.total))

    @contextmanager
    def section(self, kind: str) -> Iterator[None]:
        """Everything written inside the block is marked as ``kind`` (e.g. the environment build's output)."""
        start = self.total
        try:
            yield
        finally:
            with self._lock:
                if self.total > start:
                    self._spans.append((kind, start, self.total))

    def _write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.version += 1
        self.total += len(chunk)
        room = self.limit // 2 - len(self._head)
        if room > 0 and not self._tail and not self._dropped:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self._tail += chunk
        excess = len(self._tail) - (self.limit - self.limit // 2)
        if excess > 0:
            del self._tail[:excess]
            self._dropped += excess

    @property
    def truncated(self) -> bool:
        return self._dropped > 0

    def checkpoint(self) -> LogCapture:
        """A copy as things stand, to write a second reading of the job's output onto."""
        with self._lock:
            twin = copy.copy(self)
            twin._head, twin._tail, twin._spans = bytearray(self._head), bytearray(self._tail), list(self._spans)
            twin._lock = threading.Lock()
            return twin

    def getvalue(self) -> bytes:
        return self.snapshot()[0]

    def snapshot(self) -> tuple[bytes, list[Mark]]:
        """The log as stored and where labqueue's marks are in it."""
        with self._lock:
            if not self._dropped:
                return bytes(self._head + self._tail), [Mark(*span) for span in self._spans]
            mark = f"\n[... labqueue: {self._dropped} bytes of log cut here (log limit {self.limit} bytes) ...]\n".encode()
            head, tail_start = len(self._head), self.total - len(self._tail)
            shift = head + len(mark) - tail_start  # a kept tail byte at offset x of the output sits at x + shift
            marks = []
            for kind, start, end in self._spans:
                if start < head:
                    marks.append(Mark(kind, start, min(end, head)))
                if end > tail_start:
                    marks.append(Mark(kind, max(start, tail_start) + shift, end + shift))
            marks.append(Mark("cut", head, head + len(mark)))
            return bytes(self._head) + mark + bytes(self._tail), sorted(marks, key=lambda m: m.start)
