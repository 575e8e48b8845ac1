"""A job's log, capped: the head and the tail are kept, the cut in between is marked."""

from __future__ import annotations

import threading


class LogCapture:
    """Collects output chunks, keeping at most ``limit`` bytes: the first half and the most recent half."""

    def __init__(self, limit: int, prefix: bytes = b"") -> None:
        self.limit = limit
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()
        self.version = 0
        self.total = 0
        self.write(prefix)

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        with self._lock:
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

    def getvalue(self) -> bytes:
        with self._lock:
            if not self._dropped:
                return bytes(self._head + self._tail)
            mark = f"\n[... labqueue: {self._dropped} bytes of log cut here (log limit {self.limit} bytes) ...]\n"
            return bytes(self._head) + mark.encode() + bytes(self._tail)
