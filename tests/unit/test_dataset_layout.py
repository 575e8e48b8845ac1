"""Dataset names, references, file paths, manifests, and the streaming hash and row count."""

from __future__ import annotations

import csv
import hashlib
import io
import random

import pytest

from storage.dataset_files import CountingReader, RowCounter
from storage.dataset_layout import DatasetRef, FileEntry, LayoutError, Manifest, check_name, check_path, parse_ref


@pytest.mark.parametrize("name", ["a", "demo-sensors", "line_7", "0" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "_a", "Demo", "a.b", "a/b", "a b", "0" * 65, "ä"])
def test_bad_names(name: str) -> None:
    with pytest.raises(LayoutError):
        check_name(name)


@pytest.mark.parametrize(
    ("text", "ref"),
    [("demo", DatasetRef("demo")), ("demo@3", DatasetRef("demo", 3)), ("demo@v12", DatasetRef("demo", 12)), (" demo@1 ", DatasetRef("demo", 1))],
)
def test_refs(text: str, ref: DatasetRef) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["demo@", "demo@0", "demo@x", "demo@1@2", "@1", "Demo@1", "demo@-1"])
def test_bad_refs(text: str) -> None:
    with pytest.raises(LayoutError):
        parse_ref(text)


@pytest.mark.parametrize("path", ["a.csv", "sub/a.mat", ".hidden", "Messung Öl (2).csv"])
def test_good_paths(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize("path", ["", "/etc/passwd", "a/../b", "./a", "a//b", "a/", "a\\b", "a\nb", "x" * 256])
def test_bad_paths(path: str) -> None:
    with pytest.raises(LayoutError):
        check_path(path)


def test_manifest_round_trip_and_checks() -> None:
    manifest = Manifest("demo", 2, "ada", "2024-03-01T00:00:00Z", "d", 1, (FileEntry("a.csv", 3, "0" * 64, 1),))
    assert Manifest.decode(manifest.encode()) == manifest
    tampered = manifest.encode().replace(b'"a.csv"', b'"../a.csv"')
    with pytest.raises(LayoutError):
        Manifest.decode(tampered)
    with pytest.raises(LayoutError):
        Manifest.decode(b"{}")


def csv_rows(data: bytes) -> int:
    return max(0, len(list(csv.reader(io.StringIO(data.decode(), newline="")))) - 1)


@pytest.mark.parametrize(
    "data",
    [b"", b"h\n", b"h", b"h\n1\n2\n", b"h\n1\n2", b'h\n"a\nb",1\n', b'h\n"a""\n""b"\n2\n', b"h\r\n1\r\n", b'h\n"x"\n"y\n\nz"'],
)
def test_row_counter_agrees_with_the_csv_module(data: bytes) -> None:
    for size in (1, 2, 3, len(data) or 1):  # the same answer whatever the chunking
        counter = RowCounter()
        for start in range(0, len(data), size):
            counter.feed(data[start : start + size])
        assert counter.data_rows == csv_rows(data), (data, size)


def test_row_counter_on_random_quoted_csv() -> None:
    rng = random.Random(7)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for _ in range(500):
        writer.writerow(["".join(rng.choice('ab,"\n ') for _ in range(rng.randrange(6))) for _ in range(3)])
    data = buffer.getvalue().encode()
    counter = RowCounter()
    for start in range(0, len(data), 37):
        counter.feed(data[start : start + 37])
    assert counter.data_rows == csv_rows(data) == 499


def test_counting_reader_hashes_what_it_hands_out() -> None:
    data = bytes(range(256)) * 1000
    reader = CountingReader((data[i : i + 999] for i in range(0, len(data), 999)), count_rows=False)
    out = b"".join(iter(lambda: reader.read(4096), b""))
    assert out == data and reader.size == len(data)
    assert reader.entry("x.bin") == FileEntry("x.bin", len(data), hashlib.sha256(data).hexdigest(), None)
