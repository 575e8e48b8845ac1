"""Check an uploaded job zip against SPEC section 2 and stream it as a tar.

Every decision comes from the zip's central directory plus members streamed
through zipfile: a hostile upload is never extracted to disk or held whole in
memory. Finder litter (the ``__MACOSX/`` tree and ``.DS_Store`` files) passes
the same safety checks as any entry but is otherwise ignored: it neither
decides the project layout nor reaches the tar.
"""

import io
import logging
import lzma
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from storage.requirements import MAX_REQUIREMENTS_BYTES, RequirementsError, parse_requirements
from storage.runtimes import RUNTIMES, entry_file_choices, entry_files
from storage.units import human_bytes

LOGGER = logging.getLogger(__name__)

REQUIREMENTS_FILE = "requirements.txt"
OUTPUT_DIR = "output"
JOB_UID = 1000
JOB_USER = "job"

_CHUNK = 64 * 2**10
_ZIP_EPOCH = 315532800  # 1980-01-01, the earliest time a zip can state
# output/ is unpacked with this time: a job that adds, removes or renames anything in it moves the time on, so an
# unchanged time after the run says there is nothing to copy out.
OUTPUT_DIR_MTIME = _ZIP_EPOCH
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # first entry, or an empty zip
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_FLAG_ENCRYPTED = 0x1 | 0x40  # traditional or strong encryption
_FLAG_PATCHED = 0x20
_FLAG_UTF8 = 0x800
_IGNORED_TOP = "__MACOSX"
_IGNORED_FILE = ".DS_Store"
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPECIAL_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}
# What zipfile and its decompressors raise on damaged data: bz2 reports a bad
# stream as OSError, a local header's name can be flagged UTF-8 and not be.
_DAMAGED = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    UnicodeDecodeError,
)
# Records of the zip format, laid out as zipfile reads them.
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CD_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True)
class ArchiveLimits:
    """SPEC section 2's defaults; an admin may change them, so every reader takes them."""

    max_upload_bytes: int = 512 * 2**20  # size of the zip itself
    max_total_uncompressed: int = 4 * 2**30  # sum of the declared sizes
    max_entries: int = 10_000  # zip entries; also folders, named or implied
    max_ratio: int = 200  # per entry, uncompressed/compressed ...
    ratio_min_bytes: int = 2**20  # ... for entries above this size
    max_name_bytes: int = 255  # per path component
    max_path_bytes: int = 1024  # whole path


class ArchiveError(ValueError):
    """The zip breaks a rule of SPEC section 2; the message is shown to the researcher verbatim."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ProjectInfo:
    """What the upload check learnt, stored with the job so later readers can tell the zip is the same."""

    project: str  # top folder name, or the zip's file name without .zip
    runtime: str  # from the entry file
    prefix: str  # "" or "folder/": the single top-level folder stripped from names
    entries: int  # entries in the zip, as counted against max_entries
    uncompressed_bytes: int  # declared total, as counted against max_total_uncompressed
    has_requirements: bool
    ships_output: bool  # the zip has files under output/ (the job starts with them there)


@dataclass(frozen=True)
class DataMember:
    """A file of a dataset zip: its path below the zip's single top folder (if any) and its declared size."""

    path: str
    size: int


@dataclass(frozen=True)
class _Entry:
    zinfo: zipfile.ZipInfo
    path: str  # normalised, relative to the zip's root, no trailing slash
    is_dir: bool
    mode: int  # for the tar


@dataclass(frozen=True)
class _Project:
    prefix: str
    runtime: str
    entries: int
    uncompressed_bytes: int
    members: dict[str, _Entry]  # by path relative to the project root, in zip order
    folders: set[str]  # relative to the project root, named or implied, with output/

    def info(self, name: str) -> ProjectInfo:
        requirements = self.members.get(REQUIREMENTS_FILE)
        has_requirements = requirements is not None and not requirements.is_dir
        ships_output = any(path.startswith(OUTPUT_DIR + "/") for path in self.members)
        return ProjectInfo(name, self.runtime, self.prefix, self.entries, self.uncompressed_bytes, has_requirements, ships_output)


def inspect_zip(
    file: IO[bytes], filename: str, runtime: str | None = None, limits: ArchiveLimits = ArchiveLimits()
) -> ProjectInfo:
    """Check the zip against every rule of SPEC section 2 from its central directory.

    Only requirements.txt is decompressed here (at most MAX_REQUIREMENTS_BYTES), to check that it names
    requirements and nothing else (storage.requirements), so an upload is judged in time proportional to its entry
    count. Leaves ``file`` at position 0 for storing it.
    """
    if runtime is not None and runtime not in RUNTIMES:
        known = ", ".join(RUNTIMES)
        raise ArchiveError("runtime_mismatch", f"Unknown runtime {runtime!r}; choose one of {known}.")
    try:
        with _open_zip(file, limits) as archive:
            project = _scan(archive, limits)
            _check_requirements(archive, project)
    finally:
        file.seek(0)
    if runtime is not None and runtime != project.runtime:
        entry_file = RUNTIMES[project.runtime].entry_file
        raise ArchiveError(
            "runtime_mismatch",
            f"The runtime chosen is {runtime}, but the project's entry file is {entry_file} ({project.runtime}).",
        )
    return project.info(_project_name(project.prefix, filename))


def read_member(
    file: IO[bytes], info: ProjectInfo, relative_path: str, max_bytes: int, limits: ArchiveLimits = ArchiveLimits()
) -> bytes | None:
    """Return one file of the project (e.g. requirements.txt), or None when it is absent."""
    with _open_zip(file, limits) as archive:
        entry = _rescan(archive, info, limits).members.get(relative_path)
        if entry is None or entry.is_dir:
            return None
        size = entry.zinfo.file_size
        if size > max_bytes:
            raise ArchiveError("too_large", f"{relative_path!r} is {human_bytes(size)}; the limit is {human_bytes(max_bytes)}.")
        return b"".join(_stream_member(archive, entry))


def zip_to_tar(file: IO[bytes], info: ProjectInfo, limits: ArchiveLimits = ArchiveLimits()) -> Iterator[bytes]:
    """Stream the project as an uncompressed tar, for the sandbox's stdin.

    Paths are relative to the project root. All rules are checked again, since
    the stored zip is read back long after its upload, and each member must
    unpack to exactly its declared size (else ArchiveError mid-stream). Every
    folder gets an entry owned by the job user, and an ``output/`` folder is
    always present (dated OUTPUT_DIR_MTIME).
    """
    with _open_zip(file, limits) as archive:
        yield from _tar_stream(archive, _rescan(archive, info, limits))


def _check_requirements(archive: zipfile.ZipFile, project: _Project) -> None:
    entry = project.members.get(REQUIREMENTS_FILE)
    if entry is None or entry.is_dir:
        return
    if entry.zinfo.file_size > MAX_REQUIREMENTS_BYTES:
        limit = human_bytes(MAX_REQUIREMENTS_BYTES)
        raise ArchiveError("too_large", f"{REQUIREMENTS_FILE!r} is {human_bytes(entry.zinfo.file_size)}; the limit is {limit}.")
    try:
        parse_requirements(b"".join(_stream_member(archive, entry)))
    except RequirementsError as exc:
        raise ArchiveError("bad_requirements", str(exc)) from exc


def _open_zip(file: IO[bytes], limits: ArchiveLimits) -> zipfile.ZipFile:
    size = file.seek(0, io.SEEK_END)
    if size > limits.max_upload_bytes:
        limit = human_bytes(limits.max_upload_bytes)
        raise ArchiveError("too_large", f"The upload is {human_bytes(size)}; the limit is {limit}.")
    file.seek(0)
    if file.read(4) not in _ZIP_SIGNATURES:
        raise _not_a_zip("it does not start like a zip file")
    _count_entries(file, size, limits.max_entries)
    try:
        return zipfile.ZipFile(file)
    except UnicodeDecodeError as error:
        raise ArchiveError("bad_name", "An entry name is marked as UTF-8 but is not valid UTF-8.") from error
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as error:
        raise _not_a_zip(str(error)) from error


def _count_entries(file: IO[bytes], size: int, limit: int) -> None:
    """Refuse too many entries before zipfile builds an object for each one.

    A 512 MiB upload can list millions of tiny records; counting them here
    keeps that from costing gigabytes of memory. Locating the central
    directory mirrors zipfile._EndRecData so both see the same records.
    """
    tail_at = max(size - _EOCD.size - 0xFFFF, 0)
    file.seek(tail_at)
    tail = file.read()
    end = len(tail) - _EOCD.size
    if end < 0 or tail[end : end + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
        end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + _EOCD.size > len(tail):
        raise _not_a_zip("it has no end-of-archive record")
    location = tail_at + end
    directory_size, directory_end = _EOCD.unpack_from(tail, end)[5], location
    if location >= _EOCD64_LOCATOR.size:
        file.seek(location - _EOCD64_LOCATOR.size)
        locator = _EOCD64_LOCATOR.unpack(file.read(_EOCD64_LOCATOR.size))
        if locator[0] == b"PK\x06\x07":
            if locator[1] != 0 or locator[3] > 1:
                raise _not_a_zip("it spans several disks")
            record64_at = location - _EOCD64_LOCATOR.size - _EOCD64.size
            if record64_at >= 0:
                file.seek(record64_at)
                record64 = _EOCD64.unpack(file.read(_EOCD64.size))
                if record64[0] == b"PK\x06\x06":
                    directory_size, directory_end = record64[8], record64_at
    start = directory_end - directory_size
    if start < 0:
        raise _not_a_zip("its central directory lies outside the file")
    file.seek(start)
    count = done = 0
    while done < directory_size:
        if directory_size - done < _CD_RECORD.size:
            raise _not_a_zip("its central directory is truncated")
        record = _CD_RECORD.unpack(file.read(_CD_RECORD.size))
        if record[0] != b"PK\x01\x02":
            raise _not_a_zip("its central directory is damaged")
        count += 1
        if count > limit:
            raise ArchiveError("too_many_entries", f"The zip has more than {limit} entries.")
        variable = record[12] + record[13] + record[14]  # name, extra field, comment
        file.seek(variable, io.SEEK_CUR)
        done += _CD_RECORD.size + variable


def _checked_entries(archive: zipfile.ZipFile, limits: ArchiveLimits, what: str) -> tuple[dict[str, _Entry], int]:
    """Every entry that passes the per-entry and total rules, by normalised path, and the declared total."""
    zinfos = archive.infolist()
    if not zinfos:
        raise ArchiveError("empty", "The zip is empty.")
    total = sum(zinfo.file_size for zinfo in zinfos)
    if total > limits.max_total_uncompressed:
        limit = human_bytes(limits.max_total_uncompressed)
        raise ArchiveError("too_large", f"The {what} unpacks to {human_bytes(total)}; the limit is {limit}.")
    kept: dict[str, _Entry] = {}
    for zinfo in zinfos:
        entry = _check_entry(zinfo, archive.start_dir, limits)
        if entry is None:
            continue
        if entry.path in kept:
            twice = "both a file and a folder" if kept[entry.path].is_dir != entry.is_dir else "in the zip twice"
            raise ArchiveError("duplicate_name", f"{entry.path!r} is {twice}.")
        kept[entry.path] = entry
    if not kept:
        raise ArchiveError("empty", f"The zip holds no {what} files, only macOS metadata.")
    return kept, total


def _scan(archive: zipfile.ZipFile, limits: ArchiveLimits) -> _Project:
    kept, total = _checked_entries(archive, limits, "project")
    zinfos = archive.infolist()
    folders = _folders(kept, limits.max_entries)
    prefix = _prefix(kept)
    members = {path[len(prefix) :]: entry for path, entry in kept.items() if path != prefix[:-1]}
    output = members.get(OUTPUT_DIR)
    if output is not None and not output.is_dir:
        raise ArchiveError("bad_name", f"{prefix}{OUTPUT_DIR} must be a folder: the job writes its results there.")
    folders = {path[len(prefix) :] for path in folders if path != prefix[:-1]} | {OUTPUT_DIR}
    return _Project(prefix, _runtime(members, kept, prefix), len(zinfos), total, members, folders)


def inspect_data_zip(file: IO[bytes], limits: ArchiveLimits = ArchiveLimits()) -> list[DataMember]:
    """Check a dataset zip by the safety rules of a job zip (slip, special entries, bombs, sizes, names), without
    the project's rules: any files may be in it. A single top folder is stripped, as for projects."""
    try:
        with _open_zip(file, limits) as archive:
            members = _scan_data(archive, limits)
    finally:
        file.seek(0)
    return [DataMember(path, entry.zinfo.file_size) for path, entry in members.items()]


def iter_data_members(file: IO[bytes], limits: ArchiveLimits = ArchiveLimits()) -> Iterator[tuple[DataMember, Iterator[bytes]]]:
    """Each file of a dataset zip with its bytes as chunks, held to its declared size; read each before the next."""
    with _open_zip(file, limits) as archive:
        for path, entry in _scan_data(archive, limits).items():
            yield DataMember(path, entry.zinfo.file_size), _stream_member(archive, entry)


def _scan_data(archive: zipfile.ZipFile, limits: ArchiveLimits) -> dict[str, _Entry]:
    kept, _total = _checked_entries(archive, limits, "dataset")
    _folders(kept, limits.max_entries)
    prefix = _prefix(kept)
    return {path[len(prefix) :]: entry for path, entry in kept.items() if not entry.is_dir}


def _rescan(archive: zipfile.ZipFile, info: ProjectInfo, limits: ArchiveLimits) -> _Project:
    project = _scan(archive, limits)
    if project.info(info.project) != info:
        raise ArchiveError("changed", "The zip differs from the one checked at upload.")
    return project


def _check_entry(zinfo: zipfile.ZipInfo, directory_start: int, limits: ArchiveLimits) -> _Entry | None:
    """Apply the per-entry rules; None for entries that stay out of the project."""
    name = _decode_name(zinfo)
    if _CONTROL.search(name):
        raise ArchiveError("bad_name", f"The entry name {name!r} contains control characters.")
    if "\\" in name:
        raise ArchiveError("zip_slip", f"{name!r} uses backslashes; make the zip with a tool that writes '/'.")
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveError("zip_slip", f"{name!r} is an absolute path; entries must be relative.")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("zip_slip", f"{name!r} climbs out of the project with '..'.")
    path = "/".join(parts)
    encoded = path.encode()
    if max(map(len, encoded.split(b"/"))) > limits.max_name_bytes:
        raise ArchiveError("bad_name", f"{name!r} has a name longer than {limits.max_name_bytes} bytes.")
    if len(encoded) > limits.max_path_bytes:
        raise ArchiveError("bad_name", f"{name!r} is a path longer than {limits.max_path_bytes} bytes.")
    if not 0 <= zinfo.header_offset <= directory_start - _LOCAL_HEADER_SIZE:
        raise _not_a_zip(f"the data of {name!r} lies outside the file")
    mode = zinfo.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = _SPECIAL_KINDS.get(kind, f"a special entry (mode {mode:o})")
        raise ArchiveError("special_file", f"{name!r} is {what}; only files and folders are allowed.")
    if zinfo.flag_bits & _FLAG_ENCRYPTED:
        raise ArchiveError("encrypted", f"{name!r} is encrypted; upload the zip without a password.")
    if zinfo.compress_type not in _METHODS or zinfo.flag_bits & _FLAG_PATCHED:
        method = zinfo.compress_type
        raise ArchiveError(
            "unsupported_compression", f"{name!r} uses compression method {method}, which is not supported."
        )
    size, packed = zinfo.file_size, zinfo.compress_size
    if size > limits.ratio_min_bytes and size > limits.max_ratio * packed:
        raise ArchiveError(
            "zip_bomb",
            f"{name!r} expands from {human_bytes(packed)} to {human_bytes(size)}, more than {limits.max_ratio}:1.",
        )
    if not parts or parts[0] == _IGNORED_TOP or parts[-1] == _IGNORED_FILE:
        return None
    is_dir = name.endswith("/") or kind == stat.S_IFDIR
    return _Entry(zinfo, path, is_dir, 0o755 if is_dir or mode & 0o111 else 0o644)


def _decode_name(zinfo: zipfile.ZipInfo) -> str:
    """The entry's name, without zipfile's cut at NUL.

    Names not flagged as UTF-8 are read as UTF-8 when they are valid UTF-8
    (as Info-ZIP on Linux writes them) and as cp437 otherwise.
    """
    if zinfo.flag_bits & _FLAG_UTF8 or zinfo.orig_filename.isascii():
        return zinfo.orig_filename
    try:
        return zinfo.orig_filename.encode("cp437").decode("utf-8")
    except UnicodeDecodeError:
        return zinfo.orig_filename


def _folders(kept: dict[str, _Entry], limit: int) -> set[str]:
    """Every folder of the zip, named or implied by a deeper path, none of them a file.

    Each becomes a tar entry, so they count against the entry limit: deep
    paths could otherwise turn 10,000 entries into millions of folders.
    """
    folders: set[str] = set()
    for path, entry in kept.items():
        folder = path if entry.is_dir else path.rpartition("/")[0]
        while folder and folder not in folders:  # a known folder's parents are known too
            folders.add(folder)
            if len(folders) > limit:
                raise ArchiveError("too_many_entries", f"The zip has more than {limit} folders.")
            folder = folder.rpartition("/")[0]
    for folder in folders:
        if folder in kept and not kept[folder].is_dir:
            raise ArchiveError("duplicate_name", f"{folder!r} is a file but also holds other entries.")
    return folders


def _prefix(kept: dict[str, _Entry]) -> str:
    """Return "folder/" when every entry lives under that one folder, else ""."""
    tops = {path.split("/", 1)[0] for path in kept}
    if len(tops) != 1:
        return ""
    top = tops.pop()
    return "" if top in kept and not kept[top].is_dir else f"{top}/"


def _runtime(members: dict[str, _Entry], kept: dict[str, _Entry], prefix: str) -> str:
    runtimes = entry_files()
    found = [name for name in runtimes if name in members and not members[name].is_dir]
    where = f"the folder {prefix!r}" if prefix else "the top of the zip"
    if len(found) > 1:
        raise ArchiveError("both_entry_files", f"The project has both {' and '.join(found)} in {where}; keep one.")
    if not found:
        near = [path for path, e in kept.items() if not e.is_dir and path.rpartition("/")[2].lower() in runtimes]
        hint = f" The zip has {near[0]!r}, which is not there or not spelled exactly so." if near else ""
        raise ArchiveError("no_entry_file", f"No entry file: put {entry_file_choices()} in {where}.{hint}")
    return runtimes[found[0]]


def _project_name(prefix: str, filename: str) -> str:
    if prefix:
        raw = prefix[:-1]
    else:
        raw = re.split(r"[\\/]", filename)[-1]
        if raw.lower().endswith(".zip"):
            raw = raw[:-4]
    # Kept as written (a lab writes Portuguese: análise-sinais stays so); pages escape it, downloads name it with
    # RFC 6266's filename*, and nothing uses it as a path. Only control characters and the edges' dots go.
    name = _CONTROL.sub("", unicodedata.normalize("NFC", raw)).strip().strip(".").strip()
    return name[:100].rstrip() or "project"


def _tar_stream(archive: zipfile.ZipFile, project: _Project) -> Iterator[bytes]:
    members = project.members
    newest = max((_mtime(entry.zinfo) for entry in members.values()), default=_ZIP_EPOCH)
    for path in sorted(project.folders):  # a parent sorts before its children
        mtime = OUTPUT_DIR_MTIME if path == OUTPUT_DIR else _mtime(members[path].zinfo) if path in members else newest
        yield _tar_header(path, tarfile.DIRTYPE, 0o755, 0, mtime)
    for path, entry in members.items():
        if entry.is_dir:
            continue
        size = entry.zinfo.file_size
        yield _tar_header(path, tarfile.REGTYPE, entry.mode, size, _mtime(entry.zinfo))
        yield from _stream_member(archive, entry)
        if size % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)


def _tar_header(path: str, kind: bytes, mode: int, size: int, mtime: int) -> bytes:
    member = tarfile.TarInfo(path)
    member.type, member.mode, member.size, member.mtime = kind, mode, size, mtime
    member.uid = member.gid = JOB_UID
    member.uname = member.gname = JOB_USER
    return member.tobuf(tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _stream_member(archive: zipfile.ZipFile, entry: _Entry) -> Iterator[bytes]:
    """Yield one member in chunks, exactly as many bytes as its tar header promised.

    zipfile reads at most compress_size bytes and yields at most file_size,
    so holding each member to its declared size also holds the expansion
    ratio and the total that the directory checks allowed.
    """
    size = entry.zinfo.file_size
    done = 0
    try:
        member = archive.open(entry.zinfo)
    except _DAMAGED as error:
        raise _damaged(entry, error) from error
    with member:
        while chunk := _read_chunk(member, entry):
            done += len(chunk)
            if done > size:
                raise ArchiveError("zip_bomb", f"{entry.path!r} unpacks to more than the {size} bytes it declares.")
            yield chunk
    if done != size:
        raise ArchiveError("corrupt", f"{entry.path!r} unpacks to {done} bytes but declares {size}.")


def _read_chunk(member: IO[bytes], entry: _Entry) -> bytes:
    try:
        return member.read(_CHUNK)
    except _DAMAGED as error:
        raise _damaged(entry, error) from error


def _damaged(entry: _Entry, error: Exception) -> ArchiveError:
    LOGGER.info("zip member %r is damaged: %s", entry.path, error)
    return ArchiveError("corrupt", f"{entry.path!r} could not be unpacked: {error}")


def _not_a_zip(reason: str) -> ArchiveError:
    return ArchiveError("not_a_zip", f"The upload is not a usable zip file: {reason}.")


def _mtime(zinfo: zipfile.ZipInfo) -> int:
    """Zip times carry no time zone; reading them as UTC makes the tar the same on every host."""
    try:
        return int(datetime(*zinfo.date_time, tzinfo=UTC).timestamp())
    except ValueError:  # the DOS fields allow month 0, second 62 and the like
        return _ZIP_EPOCH
