"""StagedInput's parts against a fake store: they join up to the input whatever the write sizes, and only a commit
makes the object visible. The real store's side is in tests/integration (test_api_jobs, test_bad_input)."""

from __future__ import annotations

import hashlib
import os
import time
from typing import BinaryIO

import pytest
from minio.datatypes import Part

from storage.objects import ObjectStoreError
from storage.staged_input import StagedInput

PART = 16 * 1024


class FakeStore:
    """Records parts, completions and aborts; part ``failing`` raises as an unreachable store would."""

    def __init__(self, failing: int | None = None) -> None:
        self.failing = failing
        self.parts: dict[int, bytes] = {}
        self.completed: dict[str, bytes] = {}
        self.aborted: list[str] = []
        self.started = 0

    def put_stream(self, key: str, data: BinaryIO, length: int, content_type: str) -> None:
        self.completed[key] = data.read(length)

    def start_multipart(self, key: str, content_type: str) -> str:
        self.started += 1
        return "upload-1"

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> Part:
        if number == self.failing:
            raise ObjectStoreError("object store: upload failed: connection refused")
        self.parts[number] = data
        return Part(number, f"etag-{number}")

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        self.completed[key] = b"".join(self.parts[part.part_number] for part in parts)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.aborted.append(key)


def staged(store: FakeStore, data: bytes, uploaders: int, chunk: int = 7000) -> StagedInput:
    upload = StagedInput(store, "a" * 32, part_size=PART, uploaders=uploaders)  # type: ignore[arg-type]
    for start in range(0, len(data), chunk):
        upload.write(data[start : start + chunk])
    return upload


@pytest.mark.parametrize("uploaders", [1, 3])
@pytest.mark.parametrize("size", [0, 100, PART, 5 * PART + 1])
def test_parts_join_up_to_the_input_with_its_sha256_and_size(size: int, uploaders: int) -> None:
    store, data = FakeStore(), os.urandom(size)
    upload = staged(store, data, uploaders)

    assert upload.commit() == (hashlib.sha256(data).hexdigest(), size)
    upload.close()

    assert store.completed == {upload.key: data}
    assert all(len(store.parts[number]) == PART for number in range(1, len(store.parts)))
    assert store.aborted == []
    assert store.started == (size >= PART)  # less than a part: one put at the commit, no multipart upload


def test_a_refusal_before_the_first_full_part_sends_nothing_to_the_store() -> None:
    store = FakeStore()
    upload = staged(store, os.urandom(PART - 1), uploaders=2)

    upload.close()

    assert (store.started, store.completed, store.aborted) == (0, {}, [])


def test_closing_without_a_commit_aborts_and_stores_nothing() -> None:
    store = FakeStore()
    upload = staged(store, os.urandom(3 * PART), uploaders=3)
    deadline = time.monotonic() + 10
    while not store.parts and time.monotonic() < deadline:  # an uploader has opened the upload and sent a part
        time.sleep(0.01)

    upload.close()
    upload.close()

    assert store.completed == {} and store.aborted == [upload.key]
    assert upload.file.closed


def test_a_part_the_store_refused_fails_the_commit_and_the_upload_is_aborted() -> None:
    store = FakeStore(failing=2)
    upload = staged(store, os.urandom(4 * PART), uploaders=2)

    with pytest.raises(ObjectStoreError):
        upload.commit()
    upload.close()

    assert store.completed == {} and store.aborted == [upload.key]
