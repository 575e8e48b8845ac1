"""A job's input zip, sent on to the object store while it is still arriving.

The upload is hashed and written to a temporary file (the zip check needs one: it reads the central directory at the
end), and N background uploaders read each full part back from that file into a multipart upload. The zip is read from
the client once and from disk once, and the store's work overlaps the client's instead of following it. The multipart
upload is completed only once the zip has been accepted; otherwise it is aborted and the object never becomes visible.
A zip smaller than one part, as most projects are, is stored with one put at the commit instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from minio.datatypes import Part

from storage.objects import ObjectStore, ObjectStoreError, input_key

LOGGER = logging.getLogger(__name__)

CONTENT_TYPE = "application/zip"
# Parts as large as put_stream's (bench.transfer: 69% of a direct put with three 8 MiB parts in flight, 76-78% with two
# of 16 MiB), two in flight so that the store is never idle waiting for one answer: 32 MiB of memory at most.
PART_SIZE = 16 * 2**20
UPLOADERS = 2


class StagedInput:
    """The input of job ``job_id``: written by the form parser, checked from ``file``, then committed or closed.

    Memory stays near ``uploaders`` parts whatever the zip's size, since parts are read back from the file rather
    than queued; a slow store never holds up the client. Several parts are in flight so that the store is never idle
    waiting for one answer. Closing without a commit aborts the upload: the web closes every staged input when its
    request ends, however it ends.
    """

    def __init__(self, store: ObjectStore, job_id: str, part_size: int = PART_SIZE, uploaders: int = UPLOADERS) -> None:
        self.job_id = job_id
        self.key = input_key(job_id)
        # Unbuffered, so what write() returned is visible to pread; closed by close().
        self.file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115
        self._store = store
        self._part_size = part_size
        self._digest = hashlib.sha256()
        self._changed = threading.Condition()
        self._written = 0
        self._claimed = 0  # bytes an uploader has taken as a part
        self._parts_claimed = 0
        self._sealed = False
        self._stopped = False
        self._committed = False
        self._starting = threading.Lock()
        self._upload_id: str | None = None  # opened by the first uploader to claim a full part
        self._uploaders = uploaders
        self._executor: ThreadPoolExecutor | None = None  # started with the first full part: most zips never fill one
        self._uploads: list[Future[list[Part]]] = []

    def write(self, data: bytes) -> int:
        """Append to the file and the hash (the form parser's call); a full part waiting wakes an uploader."""
        view = memoryview(data)
        while view:
            view = view[self.file.write(view) :]
        self._digest.update(data)
        with self._changed:
            self._written += len(data)
            if self._written - self._claimed >= self._part_size:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=self._uploaders, thread_name_prefix="staged-input")
                    self._uploads = [self._executor.submit(self._send_parts) for _ in range(self._uploaders)]
                self._changed.notify()
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Werkzeug rewinds its file once the part is parsed."""
        return self.file.seek(offset, whence)

    def commit(self) -> tuple[str, int]:
        """Send the last part and make the object visible; returns the zip's sha256 and size.

        Raises ObjectStoreError, also for a failure of a background uploader.
        """
        with self._changed:
            self._sealed = True
            self._changed.notify_all()
        # Every uploader has finished (or raised) before the upload id is read: the last of them may have opened it.
        parts = [part for upload in self._uploads for part in upload.result()]
        if self._upload_id is None:
            self.file.seek(0)
            self._store.put_stream(self.key, self.file, self._written, CONTENT_TYPE)
        else:
            self._store.complete_multipart(self.key, self._upload_id, sorted(parts, key=lambda part: part.part_number))
        self._committed = True
        return self._digest.hexdigest(), self._written

    def close(self) -> None:
        """Abort the upload unless it was committed, and drop the file; closing twice does nothing."""
        if self.file.closed:
            return
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # no part in flight once aborted
        try:
            if not self._committed and self._upload_id is not None:
                self._store.abort_multipart(self.key, self._upload_id)
        except ObjectStoreError as exc:
            LOGGER.warning("unfinished upload of %s not aborted, it stays invisible: %s", self.key, exc)
        finally:
            self.file.close()

    def _send_parts(self) -> list[Part]:
        """An uploader thread: send each part it claims as soon as the file holds it."""
        parts = []
        while (claim := self._claim()) is not None:
            number, offset, length = claim
            upload_id = self._opened_upload()
            # Read in the call, so the part is freed when it returns and not held through the next claim's wait.
            parts.append(self._store.upload_part(self.key, upload_id, number, os.pread(self.file.fileno(), length, offset)))
        return parts

    def _opened_upload(self) -> str:
        """The multipart upload's id, opened on the first call; a failed opening is tried again by the next part."""
        with self._starting:
            if self._upload_id is None:
                self._upload_id = self._store.start_multipart(self.key, CONTENT_TYPE)
            return self._upload_id

    def _claim(self) -> tuple[int, int, int] | None:
        """Part number, offset and length of a full part, or of what is left once sealed; None when there is nothing
        more to claim, the upload was stopped, or the whole zip fits in one put (no part was claimed before the seal)."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or self._sealed or self._written - self._claimed >= self._part_size)
            offset, length = self._claimed, min(self._written - self._claimed, self._part_size)
            if self._stopped or length == 0 or (self._parts_claimed == 0 and length < self._part_size):
                return None
            self._claimed += length
            self._parts_claimed += 1
            return self._parts_claimed, offset, length
