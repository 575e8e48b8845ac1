"""A stored object as a seekable, read-only file: zipfile reads a big output zip's directory and single members
through ranged requests, so the whole zip never passes through memory or disk."""

from __future__ import annotations

import errno
import io

from storage.objects import ObjectStore

# Each ranged request fetches at least this much, so zipfile's small reads do not become one request each.
BUFFER_SIZE = 1024 * 1024


class ObjectFile(io.RawIOBase):
    """Reads ``key`` by byte ranges; wrap it in ``open_object`` to get the buffered file zipfile wants."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")  # as a real file says it; zipfile relies on that
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        done = 0
        view = memoryview(buffer).cast("B")
        for chunk in self._store.iter_object(self._key, offset=self._position, length=wanted):
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
        self._position += done
        return done


def open_object(store: ObjectStore, key: str, size: int) -> io.BufferedReader:
    """A buffered, seekable reader of the object, for ``zipfile.ZipFile``."""
    return io.BufferedReader(ObjectFile(store, key, size), buffer_size=BUFFER_SIZE)
