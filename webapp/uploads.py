"""The app's request class: a job zip goes on to the object store while Werkzeug is still parsing it.

Only the views that take a job zip stage it (storage/staged_input.py), and only its first file part, from a signed-in
user; every other form keeps Werkzeug's own temporary files.
"""

from __future__ import annotations

from typing import IO, cast

from flask import Request
from flask_login import current_user
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser, MultiPartParser

from storage.models import new_id
from storage.staged_input import StagedInput
from webapp.jobs import SubmitError
from webapp.services import services

STAGED_ENDPOINTS = frozenset({"api.create_job", "pages.upload"})
PARSE_BUFFER = 2**20


class LargeReadFormDataParser(FormDataParser):
    """Reads multipart bodies in up to 1 MiB instead of Werkzeug's 64 KiB: gunicorn reads ahead up to 1 MiB and
    copies what is left of it on every smaller read, which cost more CPU than the parsing itself."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, FileStorage]]:
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        # The decoder answers 413 when one read plus the few bytes it held back exceeds max_form_memory_size.
        limit = self.max_form_memory_size
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=limit,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=PARSE_BUFFER if limit is None else min(PARSE_BUFFER, limit // 2),
        )
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class LabqueueRequest(Request):
    """Stages a job upload while it is parsed, and closes (aborts unless committed) the staging when the request ends."""

    form_data_parser_class = LargeReadFormDataParser
    _staged: StagedInput | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self._staged is not None or not filename or self.endpoint not in STAGED_ENDPOINTS or not current_user.is_authenticated:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self._staged = StagedInput(services().store, new_id())
        return cast(IO[bytes], self._staged)  # the form parser only writes and seeks it

    def close(self) -> None:
        """Also when parsing failed half-way, so Werkzeug never listed the file."""
        try:
            super().close()
        finally:
            if self._staged is not None:
                self._staged.close()


def staged_input(upload: FileStorage) -> StagedInput:
    """The staged zip behind a form's file field; refused when the zip was not the form's first file."""
    if not isinstance(upload.stream, StagedInput):
        raise SubmitError(400, "no_file", "send the zip as the form's only file, in the field 'file'")
    return upload.stream
