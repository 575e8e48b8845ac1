"""Bad input at the HTTP entry point: refused with a clear error, nothing stored, nothing half made."""

from __future__ import annotations

import io
import os
import socket
import stat
import time
import zipfile
from urllib.parse import urlsplit

import pytest

from storage.config import StorageConfig
from storage.objects import ObjectStore
from storage.staged_input import PART_SIZE
from tests.conftest import ApiUser, make_zip


def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


CASES = {
    "not_a_zip": b"this is plain text, not a zip",
    "empty": zip_with([]),
    "zip_slip": zip_with([("code.py", b"print(1)"), ("../../etc/cron.d/evil", b"x")]),
    "special_file": zip_with([("code.py", b"print(1)"), symlink_entry("data", "/etc/shadow")]),
    "zip_bomb": zip_with([("code.py", b"print(1)"), ("zeros.bin", bytes(64 * 2**20))]),
    "both_entry_files": zip_with([("code.py", b"print(1)"), ("code.m", b"disp(1)")]),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_bad_zips_are_refused_with_the_reason_and_nothing_stored(user: ApiUser, code: str) -> None:
    before = user.get("/api/v1/jobs").json()["total"]
    response = user.submit(CASES[code], f"{code}.zip")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == code and body["message"]
    assert user.get("/api/v1/jobs").json()["total"] == before


def stored_inputs(store: ObjectStore) -> set[str]:
    listing = store.client.list_objects(bucket_name=store.bucket, prefix="jobs/", recursive=True)
    return {item.object_name for item in listing if item.object_name.endswith("/input.zip")}


def test_a_refused_zip_of_several_parts_leaves_nothing_in_the_store(user: ApiUser, test_env: dict[str, str]) -> None:
    """Its parts went on to the store while it arrived (storage/staged_input.py); the refusal aborts that upload."""
    store = ObjectStore(StorageConfig.from_env(test_env))
    before = stored_inputs(store)

    response = user.submit(make_zip({"src/code.py": "print(1)", "data.bin": os.urandom(2 * PART_SIZE)}), "nested.zip")

    assert response.status_code == 422 and response.json()["error"] == "no_entry_file"
    assert stored_inputs(store) == before
    assert store.client._list_multipart_uploads(bucket_name=store.bucket, prefix="jobs/").uploads == []


def test_encrypted_entries_are_refused(user: ApiUser) -> None:
    data = bytearray(make_zip({"code.py": "print(1)"}, top=None))
    # Set the "encrypted" flag bit in the local header and the central directory, as an encrypting zip tool would.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        data[position + flag_offset] |= 0x01
    response = user.submit(bytes(data), "secret.zip")
    assert response.status_code == 422 and response.json()["error"] == "encrypted"


def test_missing_file_field_is_a_400(user: ApiUser) -> None:
    response = user.post("/api/v1/jobs", data={"runtime": "python"})
    assert response.status_code == 400 and response.json()["error"] == "no_file"


def test_oversized_request_is_refused_before_its_body_is_read(user: ApiUser, test_env) -> None:
    """413 comes back while the client has sent only headers: the server never waits for (or reads) the body."""
    url = urlsplit(user.base_url)
    limit = int(test_env.get("LABQUEUE_MAX_UPLOAD_MIB", "512")) * 2**20
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /api/v1/jobs HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\n"
                f"Authorization: Bearer {user.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {limit * 4}\r\n\r\n"
            ).encode()
        )
        started = time.monotonic()
        reply = ""
        while '"error"' not in reply:
            chunk = sock.recv(4096).decode(errors="replace")
            if not chunk:
                break
            reply += chunk
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"error":"too_large"' in reply.replace(" ", "")
    assert time.monotonic() - started < 10


REFUSED_REQUIREMENTS = [
    "evil @ http://172.17.0.1:18999/evil-0.1.tar.gz",
    "https://example.invalid/evil-0.1-py3-none-any.whl",
    "git+https://example.invalid/evil.git#egg=evil",
    "./vendor/evil",
    "-e ./vendor/evil",
    "-i http://172.17.0.1:18999/simple",
    "--index-url http://172.17.0.1:18999/simple",
    "--extra-index-url=http://172.17.0.1:18999/simple",
    "-f http://172.17.0.1:18999/",
    "-r other.txt",
    "-c constraints.txt",
    "--trusted-host 172.17.0.1",
]


@pytest.mark.parametrize("line", REFUSED_REQUIREMENTS)
def test_a_requirements_line_that_is_no_named_requirement_is_refused_naming_it(user: ApiUser, line: str) -> None:
    before = user.get("/api/v1/jobs").json()["total"]
    response = user.submit(make_zip({"code.py": "print(1)", "requirements.txt": f"numpy\n{line}\n"}))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "bad_requirements"
    assert "line 2" in body["message"] and line in body["message"], body["message"]
    assert user.get("/api/v1/jobs").json()["total"] == before
