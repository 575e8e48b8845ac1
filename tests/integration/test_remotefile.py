"""Reading zips in place in the real object store through ranged requests: the output listing and single files."""

from __future__ import annotations

import io
import secrets
import zipfile
from collections.abc import Iterator

import pytest

from storage.config import StorageConfig
from storage.objects import ObjectStore
from storage.remotefile import open_object
from webapp.outputs import OutputError, csv_preview, iter_member, list_output


@pytest.fixture
def store(test_env: dict[str, str]) -> ObjectStore:
    """This session's bucket, removed with everything in it when the session ends."""
    return ObjectStore(StorageConfig.from_env(test_env))


def put_zip(store: ObjectStore, files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    key = f"tests/{secrets.token_hex(8)}/output.zip"
    store.put_bytes(key, buffer.getvalue(), "application/zip")
    return key


def test_seeks_and_reads_like_a_file(store: ObjectStore) -> None:
    data = secrets.token_bytes(3 * 2**20 + 17)
    key = f"tests/{secrets.token_hex(8)}/blob"
    store.put_bytes(key, data)
    with open_object(store, key, len(data)) as file:
        file.seek(-100, io.SEEK_END)
        assert file.read() == data[-100:]
        file.seek(2**20 + 5)
        assert file.read(10) == data[2**20 + 5 : 2**20 + 15]
        assert file.tell() == 2**20 + 15
        with pytest.raises(OSError):
            file.seek(-1)
    store.remove(key)


def test_a_big_output_is_listed_and_read_by_member(store: ObjectStore) -> None:
    """Stored uncompressed, 40 MiB of noise: listing and one file must not fetch it all (a buffer is 1 MiB)."""
    files = {f"run/{i:02d}.bin": secrets.token_bytes(2**20) for i in range(40)}
    files["table.csv"] = b"equipment_id,timestamp,value\n" + b"".join(b"pump-7,%d,0.5\n" % i for i in range(5000))
    key = put_zip(store, files, zipfile.ZIP_STORED)
    fetched: list[int] = []
    original = store.iter_object

    def counting(key: str, offset: int = 0, length: int = 0) -> Iterator[bytes]:
        fetched.append(length)
        return original(key, offset=offset, length=length)

    store.iter_object = counting  # type: ignore[method-assign]
    listing = list_output(store, key)
    found = iter_member(store, key, "run/07.bin")
    assert found is not None
    member, chunks = found
    assert b"".join(chunks) == files["run/07.bin"] and member.size == 2**20
    previews = csv_preview(store, key, ["table.csv"])

    assert {f.name: f.size for f in listing.files} == {name: len(data) for name, data in files.items()}
    assert listing.total_bytes == sum(len(data) for data in files.values())
    assert previews["table.csv"][0] == ["equipment_id", "timestamp", "value"] and len(previews["table.csv"]) == 11
    assert sum(fetched) < 8 * 2**20, fetched
    assert iter_member(store, key, "run/") is None and iter_member(store, key, "missing.txt") is None


def test_an_empty_output_lists_nothing_and_a_damaged_one_says_so(store: ObjectStore) -> None:
    empty = put_zip(store, {})
    damaged = f"tests/{secrets.token_hex(8)}/output.zip"
    store.put_bytes(damaged, b"PK\x03\x04 this is not really a zip")

    assert list_output(store, empty).files == []
    with pytest.raises(OutputError):
        list_output(store, damaged)
    with pytest.raises(OutputError):
        list_output(store, f"tests/{secrets.token_hex(8)}/missing.zip")
