"""Hostile input never escapes as anything but ArchiveError, and accepted zips give safe tars.

The example counts keep a default run near ten seconds; raise them with
ARCHIVE_FUZZ_EXAMPLES for a longer hunt.
"""

import io
import os
import posixpath
import stat
import tarfile
import warnings
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.archive import (
    ArchiveError,
    ArchiveLimits,
    inspect_zip,
    read_member,
    zip_to_tar,
)

EXAMPLES = int(os.environ.get("ARCHIVE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMITS = ArchiveLimits(max_total_uncompressed=2**20, max_entries=64, max_upload_bytes=2**20)
ROOT = "/job"

pytestmark = pytest.mark.timeout(300)


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


def entry(name: str, mode: int) -> zipfile.ZipInfo:
    zinfo = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
    zinfo.external_attr = mode << 16
    return zinfo


SEEDS = [
    make_zip([("code.py", b"print(1)\n"), ("data/x.csv", b"1,2\n" * 50)], zipfile.ZIP_DEFLATED),
    make_zip(
        [
            ("proj/", b""),
            (entry("proj/code.m", stat.S_IFREG | 0o755), b"disp(1)\n"),
            ("proj/requirements.txt", b"numpy\n"),
            ("proj/sub/a.bin", bytes(range(256))),
        ],
        zipfile.ZIP_STORED,
    ),
    make_zip([("code.py", b"x = 1\n" * 40), ("lib/m.py", b"y = 2\n")], zipfile.ZIP_LZMA),
    make_zip([("p/code.py", b"z" * 300), ("p/output/", b"")], zipfile.ZIP_BZIP2),
]


def check_tar(data: bytes) -> None:
    """The tar must read back, and every name must stay inside the project root."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        names = [member.name for member in members]
        assert "output" in names
        for member in members:
            name = member.name
            assert name and not name.startswith("/") and "\\" not in name
            assert ".." not in name.split("/")
            assert posixpath.normpath(posixpath.join(ROOT, name)).startswith(ROOT + "/")
            assert member.isdir() or member.isfile()
            assert (member.uid, member.gid) == (1000, 1000)
            if member.isfile():
                assert len(archive.extractfile(member).read()) == member.size


def exercise(data: bytes) -> None:
    """Run everything a job zip goes through; only ArchiveError may escape."""
    buffer = io.BytesIO(data)
    try:
        info = inspect_zip(buffer, "fuzz.zip", limits=LIMITS)
        read_member(buffer, info, "requirements.txt", 2**16, limits=LIMITS)
        tar = b"".join(zip_to_tar(buffer, info, limits=LIMITS))
    except ArchiveError as error:
        assert error.code and str(error)
        return
    check_tar(tar)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    exercise(data)


@FUZZ
@given(st.sampled_from([b"PK\x03\x04", b"PK\x05\x06"]), st.binary(max_size=4096))
def test_random_bytes_behind_a_zip_signature(signature, data):
    exercise(signature + data)


@st.composite
def mutated_zips(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        # Half the edits land in the central directory and end record, where
        # the sizes, offsets, flags and modes are.
        low = draw(st.sampled_from([0, max(len(data) - 200, 0)]))
        at = draw(st.integers(low, len(data) - 1))
        action = draw(st.sampled_from(["set", "flip", "insert", "delete"]))
        if action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[at]
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@FUZZ
@given(mutated_zips())
def test_mutated_zips(data):
    exercise(data)


@FUZZ
@given(mutated_zips())
def test_no_more_entries_than_the_limit_reach_zipfile(data):
    try:
        count = len(zipfile.ZipFile(io.BytesIO(data)).infolist())
    except Exception:  # noqa: BLE001 - only zips zipfile can read matter here
        return
    limits = ArchiveLimits(max_entries=count - 1)
    with pytest.raises(ArchiveError):
        inspect_zip(io.BytesIO(data), "fuzz.zip", limits=limits)


NAME_PARTS = st.sampled_from(
    ["a", "b", "code.py", "code.m", "output", ".", "..", "", "x.txt", "é", "C:", "\\", "__MACOSX", ".DS_Store", "\x00"]
)
NAMES = st.lists(NAME_PARTS, min_size=1, max_size=5).map("/".join)
MODES = st.sampled_from([0, stat.S_IFREG | 0o644, stat.S_IFREG | 0o755, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777])


@FUZZ
@given(
    st.lists(st.tuples(NAMES, MODES, st.binary(max_size=64)), min_size=1, max_size=8),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_generated_names(entries, compression):
    exercise(make_zip([(entry(name, mode), data) for name, mode, data in entries], compression))


SAFE_PARTS = st.text("abcxyz_-é0", min_size=1, max_size=6)


@FUZZ
@given(
    st.dictionaries(st.lists(SAFE_PARTS, min_size=1, max_size=3).map("/".join), st.binary(max_size=200), max_size=6),
    st.sampled_from(["", "project/"]),
    st.sampled_from(["code.py", "code.m"]),
)
def test_valid_projects_round_trip(files, prefix, entry_file):
    files = {path: data for path, data in files.items() if not any(other.startswith(path + "/") for other in files)}
    files[entry_file] = b"run()"
    data = make_zip([(prefix + path, content) for path, content in files.items()], zipfile.ZIP_DEFLATED)
    buffer = io.BytesIO(data)
    info = inspect_zip(buffer, "round.zip", limits=LIMITS)
    assert info.prefix == prefix
    tar = b"".join(zip_to_tar(buffer, info, limits=LIMITS))
    check_tar(tar)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        assert {name: archive.extractfile(name).read() for name in files} == files
