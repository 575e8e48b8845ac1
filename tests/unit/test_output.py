"""Output collection: tar from Docker to zip, capped, with links left out."""

import io
import tarfile
import zipfile

import pytest

from consumer.output import OutputTooLarge, empty_tar, tar_to_zip


def tar_of(entries: list[tuple[str, bytes | None, str | None]]) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return [raw[i : i + 700] for i in range(0, len(raw), 700)]


def test_files_are_zipped_without_the_output_prefix() -> None:
    target = io.BytesIO()
    summary = tar_to_zip(tar_of([("output", None, None), ("output/a.txt", b"A", None), ("output/sub/b.csv", b"1,2\n", None)]), target, 1000)
    with zipfile.ZipFile(target) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {"a.txt": b"A", "sub/b.csv": b"1,2\n"}
    assert (summary.files, summary.bytes, summary.skipped) == (2, 5, [])


def test_symlinks_are_left_out_and_named() -> None:
    target = io.BytesIO()
    summary = tar_to_zip(tar_of([("output/passwd", None, "/etc/passwd"), ("output/ok", b"x", None)]), target, 1000)
    assert summary.skipped == ["passwd"]
    assert zipfile.ZipFile(target).namelist() == ["ok"]


def test_output_over_the_cap_is_refused() -> None:
    with pytest.raises(OutputTooLarge):
        tar_to_zip(tar_of([("output/big", b"x" * 2000, None)]), io.BytesIO(), 1000)


def test_empty_output_gives_an_empty_zip() -> None:
    target = io.BytesIO()
    assert tar_to_zip(empty_tar(), target, 10).files == 0
    assert zipfile.ZipFile(target).namelist() == []
