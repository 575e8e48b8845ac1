"""Rules of SPEC section 2 on zips built in memory, and the tar they become."""

import io
import os
import random
import stat
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from storage.archive import (
    OUTPUT_DIR_MTIME,
    ArchiveError,
    ArchiveLimits,
    ProjectInfo,
    inspect_zip,
    read_member,
    zip_to_tar,
)
from storage.runtimes import entry_files

Tweak = Callable[[zipfile.ZipFile], None]


def make_zip(
    *entries: tuple[str | zipfile.ZipInfo, bytes | str],
    tweak: Tweak | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> io.BytesIO:
    """A zip of the entries; tweak may edit the ZipInfos before the central directory is written."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names on purpose
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
            if tweak is not None:
                tweak(archive)
    buffer.seek(0)
    return buffer


def with_mode(name: str, mode: int) -> zipfile.ZipInfo:
    zinfo = zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10))
    zinfo.external_attr = mode << 16
    return zinfo


def patched(buffer: io.BytesIO, old: bytes, new: bytes) -> io.BytesIO:
    """Swap bytes in every header, e.g. to write a name zipfile would not."""
    assert len(old) == len(new)
    data = buffer.getvalue()
    assert old in data
    return io.BytesIO(data.replace(old, new))


def as_zip64(buffer: io.BytesIO) -> io.BytesIO:
    """The same zip with its end record in ZIP64 form, as archives over 4 GiB have."""
    data = buffer.getvalue()
    end = data.rindex(b"PK\x05\x06")
    count, size, offset = struct.unpack_from("<H2L", data, end + 10)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    small = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return io.BytesIO(data[:end] + record + locator + small)


def last_entry(change: Callable[[zipfile.ZipInfo], None]) -> Tweak:
    return lambda archive: change(archive.filelist[-1])


def rejected(buffer: io.BytesIO, filename: str = "job.zip", **kwargs) -> ArchiveError:
    with pytest.raises(ArchiveError) as caught:
        inspect_zip(buffer, filename, **kwargs)
    return caught.value


def tar_of(buffer: io.BytesIO, info: ProjectInfo) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(b"".join(zip_to_tar(buffer, info))))


CODE = ("code.py", "print('hi')\n")


# --- accepted layouts -------------------------------------------------------


def test_files_at_root_name_the_project_after_the_zip():
    info = inspect_zip(make_zip(CODE, ("data/x.csv", "1,2\n")), "experiment-7.zip")
    assert info == ProjectInfo(
        project="experiment-7",
        runtime="python",
        prefix="",
        entries=2,
        uncompressed_bytes=len(CODE[1]) + 4,
        has_requirements=False,
        ships_output=False,
    )


def test_single_top_folder_is_the_project():
    buffer = make_zip(
        ("proj/", b""),
        ("proj/code.m", "disp(1)\n"),
        ("proj/requirements.txt", "numpy\n"),
        ("proj/sub/data.mat", b"\0\1"),
    )
    info = inspect_zip(buffer, "upload.zip")
    assert (info.project, info.runtime, info.prefix) == ("proj", "matlab", "proj/")
    assert info.has_requirements and info.entries == 4
    assert not info.ships_output


@pytest.mark.parametrize(("entry", "runtime"), sorted(entry_files().items()))
def test_runtime_given_and_agreeing(entry, runtime):
    assert inspect_zip(make_zip((entry, "x")), "a.zip", runtime).runtime == runtime


def test_macos_litter_is_ignored():
    buffer = make_zip(
        ("proj/code.py", "x"),
        ("proj/.DS_Store", b"\0"),
        ("__MACOSX/proj/._code.py", b"\0"),
        ("__MACOSX/._proj", b"\0"),
    )
    info = inspect_zip(buffer, "a.zip")
    assert info.prefix == "proj/"
    names = tar_of(buffer, info).getnames()
    assert not [name for name in names if "DS_Store" in name or "MACOSX" in name]


def test_dot_components_are_dropped():
    buffer = make_zip(("./", b""), ("./code.py", "x"), ("./lib/./m.py", "y"))
    info = inspect_zip(buffer, "a.zip")
    assert info.prefix == ""
    assert sorted(tar_of(buffer, info).getnames()) == [
        "code.py",
        "lib",
        "lib/m.py",
        "output",
    ]


def test_windows_attributes_are_plain_files_and_folders():
    folder = zipfile.ZipInfo("proj/data/")
    folder.create_system, folder.external_attr = 0, 0x10
    entry = zipfile.ZipInfo("proj/code.py")
    entry.create_system, entry.external_attr = 0, 0x20
    info = inspect_zip(make_zip((folder, b""), (entry, "x")), "a.zip")
    assert info.prefix == "proj/"


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("experiment.zip", "experiment"),
        ("My Project (1).ZIP", "My Project (1)"),
        ("C:\\fakepath\\run.zip", "run"),
        ("../../etc.zip", "etc"),
        ("données.zip", "données"),
        ("análise-sinais.zip", "análise-sinais"),
        ("bad\x07name.zip", "badname"),
        ("...zip", "project"),
        (".zip", "project"),
        ("a" * 300 + ".zip", "a" * 100),
    ],
)
def test_project_name_from_file_name_is_kept_as_written(filename, project):
    assert inspect_zip(make_zip(CODE), filename).project == project


def test_project_name_from_folder_is_kept_as_written():
    info = inspect_zip(make_zip(("análise sinais/code.py", "x")), "a.zip")
    assert (info.project, info.prefix) == ("análise sinais", "análise sinais/")


def test_inspect_rewinds_the_file():
    buffer = make_zip(CODE)
    inspect_zip(buffer, "a.zip")
    assert buffer.tell() == 0


# --- entry file and runtime --------------------------------------------------


def test_no_entry_file():
    error = rejected(make_zip(("README.md", "x"), ("src/code.py", "x")))
    assert error.code == "no_entry_file"
    assert "'src/code.py'" in str(error)


def test_entry_file_spelled_otherwise_is_named():
    error = rejected(make_zip(("Code.py", "x")))
    assert error.code == "no_entry_file" and "'Code.py'" in str(error)


def test_entry_file_must_be_a_file():
    assert rejected(make_zip(("code.py/x.txt", "x"), ("README", "x"))).code == "no_entry_file"


def test_both_entry_files():
    assert rejected(make_zip(("p/code.py", "x"), ("p/code.m", "x"))).code == "both_entry_files"


def test_runtime_mismatch_names_both():
    error = rejected(make_zip(CODE), runtime="matlab")
    assert error.code == "runtime_mismatch"
    assert "matlab" in str(error) and "code.py" in str(error)


def test_unknown_runtime():
    assert rejected(make_zip(CODE), runtime="R").code == "runtime_mismatch"


# --- not a zip, empty, sizes ----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text",
        random.Random(7).randbytes(4000),
        b"PK\x03\x04" + b"\0" * 100,
        zlib.compress(b"not a zip"),
        b"MZ" + make_zip(CODE).getvalue(),  # a self-extractor
        make_zip(CODE).getvalue()[:-10],  # truncated
    ],
    ids=["nothing", "text", "random", "signature-only", "zlib", "prepended", "truncated"],
)
def test_not_a_zip(data):
    assert rejected(io.BytesIO(data)).code == "not_a_zip"


def test_empty_zip():
    assert rejected(make_zip()).code == "empty"


def test_only_macos_litter_is_empty():
    assert rejected(make_zip(("__MACOSX/._code.py", "x"), (".DS_Store", "x"))).code == "empty"


def test_upload_too_large():
    buffer = make_zip(CODE, ("data.bin", os.urandom(5000)))
    error = rejected(buffer, limits=ArchiveLimits(max_upload_bytes=4096))
    assert error.code == "too_large"


def test_total_uncompressed_too_large():
    buffer = make_zip(CODE, ("a.txt", "x" * 600), ("b.txt", "x" * 600))
    assert rejected(buffer, limits=ArchiveLimits(max_total_uncompressed=1000)).code == "too_large"


def test_zip_bomb_by_ratio():
    error = rejected(make_zip(CODE, ("zeros.bin", bytes(2 * 2**20))))
    assert error.code == "zip_bomb" and "'zeros.bin'" in str(error)


def test_small_entries_may_compress_well():
    assert inspect_zip(make_zip(CODE, ("zeros.bin", bytes(2**19))), "a.zip").runtime == "python"


def test_too_many_entries():
    entries = [CODE] + [(f"d/{i}.txt", "x") for i in range(3)]
    assert inspect_zip(make_zip(*entries), "a.zip", limits=ArchiveLimits(max_entries=4)).entries == 4
    error = rejected(make_zip(*entries), limits=ArchiveLimits(max_entries=3))
    assert error.code == "too_many_entries"


def test_too_many_entries_counted_with_archive_comment():
    def comment(archive: zipfile.ZipFile) -> None:
        archive.comment = b"an archive comment moves the end record"

    entries = [CODE] + [(f"{i}.txt", "x") for i in range(3)]
    assert rejected(make_zip(*entries, tweak=comment), limits=ArchiveLimits(max_entries=3)).code == (
        "too_many_entries"
    )


def test_too_many_entries_counted_in_zip64():
    buffer = as_zip64(make_zip(CODE, ("a.txt", "x"), ("b.txt", "y")))
    assert inspect_zip(buffer, "a.zip", limits=ArchiveLimits(max_entries=3)).entries == 3
    assert rejected(buffer, limits=ArchiveLimits(max_entries=2)).code == "too_many_entries"


def test_central_directory_outside_the_file():
    data = bytearray(make_zip(CODE).getvalue())
    struct.pack_into("<L", data, len(data) - 10, 2**31)  # central directory size
    assert rejected(io.BytesIO(bytes(data))).code == "not_a_zip"


@pytest.mark.parametrize("offset", [2**63, 2**40, 10**6])
def test_entry_data_outside_the_file(offset):
    def move(zinfo: zipfile.ZipInfo) -> None:
        zinfo.header_offset = offset

    assert rejected(make_zip(CODE, tweak=last_entry(move))).code == "not_a_zip"


def test_too_many_folders():
    deep = "/".join(f"d{i}" for i in range(12)) + "/x.txt"
    assert inspect_zip(make_zip(CODE, (deep, "x")), "a.zip", limits=ArchiveLimits(max_entries=12))
    error = rejected(make_zip(CODE, (deep, "x")), limits=ArchiveLimits(max_entries=11))
    assert error.code == "too_many_entries" and "folders" in str(error)


# --- zip slip and names ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "/etc/x", "a/../../x", "a/..", "..", "C:/x", "c:x", "a\\..\\x", "a\\b"]
)
def test_zip_slip(name):
    error = rejected(make_zip(CODE, (name, "x")))
    assert error.code == "zip_slip" and repr(name) in str(error)


@pytest.mark.parametrize("name", ["a\x01b.txt", "tab\there.txt", "bell\x07", "line\nbreak"])
def test_control_characters(name):
    assert rejected(make_zip(CODE, (name, "x"))).code == "bad_name"


def test_nul_in_name_is_not_cut_off():
    buffer = patched(make_zip(CODE, ("evilXcode.py", "x")), b"evilXcode", b"evil\0code")
    assert rejected(buffer).code == "bad_name"


def test_flagged_utf8_name_that_is_not_utf8():
    buffer = patched(make_zip(CODE, ("dé.txt", "x")), "dé".encode(), b"d\xff\xfe")
    assert rejected(buffer).code == "bad_name"


@pytest.mark.parametrize(("raw", "name"), [(b"caf\x82", "café"), ("café".encode(), "café")])
def test_unflagged_names_read_as_utf8_or_cp437(raw, name):
    placeholder = b"caf" + b"X" * (len(raw) - 3)
    buffer = patched(make_zip(CODE, (placeholder.decode() + ".txt", "x")), placeholder, raw)
    info = inspect_zip(buffer, "a.zip")
    assert f"{name}.txt" in tar_of(buffer, info).getnames()


def test_component_length():
    assert inspect_zip(make_zip(CODE, ("é" * 127 + "x", "x")), "a.zip")  # 255 bytes
    assert rejected(make_zip(CODE, ("é" * 128, "x"))).code == "bad_name"  # 256 bytes


def test_path_length():
    long_path = "/".join(["d" * 200] * 6)
    assert rejected(make_zip(CODE, (long_path, "x"))).code == "bad_name"


@pytest.mark.parametrize(
    "entries",
    [
        (CODE, CODE),
        (CODE, ("./code.py", "y")),
        (CODE, ("lib", "x"), ("lib/m.py", "y")),
        (CODE, ("lib/m.py", "y"), ("lib", "x")),
        (CODE, ("data", "x"), ("data/", b"")),
    ],
    ids=["twice", "dot-twice", "file-then-child", "child-then-file", "file-and-folder"],
)
def test_duplicate_names(entries):
    assert rejected(make_zip(*entries)).code == "duplicate_name"


def test_output_must_be_a_folder():
    assert rejected(make_zip(CODE, ("output", "x"))).code == "bad_name"


# --- special entries, encryption, compression ----------------------------------------


@pytest.mark.parametrize(
    "kind",
    [stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK, 0o170000],
    ids=["symlink", "chardev", "blockdev", "fifo", "socket", "unknown"],
)
def test_special_entries(kind):
    error = rejected(make_zip(CODE, (with_mode("link", kind | 0o777), "/etc/passwd")))
    assert error.code == "special_file" and "'link'" in str(error)


def test_encrypted_entry():
    def encrypt(zinfo: zipfile.ZipInfo) -> None:
        zinfo.flag_bits |= 0x1

    error = rejected(make_zip(CODE, ("secret.txt", "x"), tweak=last_entry(encrypt)))
    assert error.code == "encrypted" and "'secret.txt'" in str(error)


def test_unsupported_compression_method():
    def deflate64(zinfo: zipfile.ZipInfo) -> None:
        zinfo.compress_type = 9

    assert rejected(make_zip(CODE, tweak=last_entry(deflate64))).code == "unsupported_compression"


# --- read_member --------------------------------------------------------------


def test_read_member():
    buffer = make_zip(("p/code.py", "x"), ("p/requirements.txt", "numpy==2.0\n"), ("p/lib/", b""))
    info = inspect_zip(buffer, "a.zip")
    assert read_member(buffer, info, "requirements.txt", 100) == b"numpy==2.0\n"
    assert read_member(buffer, info, "missing.txt", 100) is None
    assert read_member(buffer, info, "lib", 100) is None
    with pytest.raises(ArchiveError) as caught:
        read_member(buffer, info, "requirements.txt", 5)
    assert caught.value.code == "too_large"


# --- the tar --------------------------------------------------------------------


def test_tar_names_modes_owner_and_content():
    payload = os.urandom(300_000)
    buffer = make_zip(
        ("proj/", b""),
        (with_mode("proj/code.py", stat.S_IFREG | 0o644), "print(1)\n"),
        (with_mode("proj/run.sh", stat.S_IFREG | 0o700), "#!/bin/sh\n"),
        (with_mode("proj/deep/er/data.bin", stat.S_IFREG | 0o600), payload),
        (with_mode("proj/empty/", stat.S_IFDIR | 0o700), b""),
        ("proj/emptyfile", b""),
    )
    info = inspect_zip(buffer, "a.zip")
    chunks = list(zip_to_tar(buffer, info))
    assert max(map(len, chunks)) <= 64 * 2**10
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        members = {member.name: member for member in archive.getmembers()}
        contents = {name: archive.extractfile(name).read() for name, m in members.items() if m.isfile()}
    assert list(members) == [
        "deep",
        "deep/er",
        "empty",
        "output",
        "code.py",
        "run.sh",
        "deep/er/data.bin",
        "emptyfile",
    ]
    modes = {name: (member.type, member.mode) for name, member in members.items()}
    assert modes["deep/er"] == (tarfile.DIRTYPE, 0o755)
    assert modes["output"] == (tarfile.DIRTYPE, 0o755)
    assert modes["code.py"] == (tarfile.REGTYPE, 0o644)
    assert modes["run.sh"] == (tarfile.REGTYPE, 0o755)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(1000, 1000, "job", "job")}
    expected_mtime = datetime(2024, 5, 6, 7, 8, 10, tzinfo=UTC).timestamp()
    assert members["code.py"].mtime == members["empty"].mtime == expected_mtime
    assert members["output"].mtime == OUTPUT_DIR_MTIME
    assert contents == {
        "code.py": b"print(1)\n",
        "run.sh": b"#!/bin/sh\n",
        "deep/er/data.bin": payload,
        "emptyfile": b"",
    }


def test_files_under_output_are_shipped():
    buffer = make_zip(CODE, ("output/previous.csv", "1\n"))
    assert inspect_zip(buffer, "a.zip").ships_output


def test_tar_has_the_parents_of_named_folders():
    buffer = make_zip(("p/code.py", "x"), ("p/x/y/", b""), ("p/x/y/z.txt", "z"))
    assert tar_of(buffer, inspect_zip(buffer, "a.zip")).getnames() == ["output", "x", "x/y", "code.py", "x/y/z.txt"]


def test_tar_keeps_existing_output_folder_once():
    buffer = make_zip(CODE, ("output/", b""), ("output/old.txt", "x"))
    names = tar_of(buffer, inspect_zip(buffer, "a.zip")).getnames()
    assert names.count("output") == 1 and "output/old.txt" in names


def test_tar_of_long_and_unicode_names():
    name = "données/" + "x" * 150 + ".txt"
    buffer = make_zip(CODE, (name, "x"))
    archive = tar_of(buffer, inspect_zip(buffer, "a.zip"))
    assert archive.extractfile(name).read() == b"x"


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_tar_from_other_methods(method):
    buffer = make_zip(CODE, ("data.txt", "abc" * 1000), compression=method)
    archive = tar_of(buffer, inspect_zip(buffer, "a.zip"))
    assert archive.extractfile("data.txt").read() == b"abc" * 1000


def test_stream_stops_at_a_declared_size_smaller_than_the_data():
    def shrink(zinfo: zipfile.ZipInfo) -> None:
        zinfo.file_size = 1000

    buffer = make_zip(CODE, ("big.txt", "A" * 100_000), tweak=last_entry(shrink))
    info = inspect_zip(buffer, "a.zip")
    assert info.uncompressed_bytes == len(CODE[1]) + 1000
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(buffer, info))
    assert caught.value.code == "corrupt" and "'big.txt'" in str(caught.value)


def test_stream_stops_at_a_declared_size_larger_than_the_data():
    def grow(zinfo: zipfile.ZipInfo) -> None:
        zinfo.file_size = 20  # the CRC still matches the 11 real bytes

    buffer = make_zip(CODE, ("short.txt", "hello world"), tweak=last_entry(grow), compression=zipfile.ZIP_STORED)
    info = inspect_zip(buffer, "a.zip")
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(buffer, info))
    assert caught.value.code == "corrupt"


def test_stream_rejects_damaged_data():
    buffer = make_zip(CODE, ("data.txt", os.urandom(2000).hex()))
    info = inspect_zip(buffer, "a.zip")
    data = bytearray(buffer.getvalue())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(io.BytesIO(bytes(data)), info))
    assert caught.value.code == "corrupt"


def test_stream_rejects_a_local_name_flagged_utf8_that_is_not():
    data = bytearray(make_zip(CODE, ("dataX.txt", "x")).getvalue())
    local = data.index(b"PK\x03\x04", 1)  # the second entry's local header
    data[local + 7] |= 0x08  # flag bit 11, UTF-8 name
    data[data.index(b"dataX", local) + 4] = 0xFF
    buffer = io.BytesIO(bytes(data))
    info = inspect_zip(buffer, "a.zip")
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(buffer, info))
    assert caught.value.code == "corrupt"


def test_tar_rechecks_the_zip_it_is_given():
    info = inspect_zip(make_zip(CODE), "a.zip")
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(make_zip(CODE, ("../x", "x")), info))
    assert caught.value.code == "zip_slip"
    with pytest.raises(ArchiveError) as caught:
        b"".join(zip_to_tar(make_zip(CODE, ("other.txt", "x")), info))
    assert caught.value.code == "changed"
