"""Datasets in the object store: names, ``name@version`` references, object keys and the version manifest.

Everything a reader needs without the database lives here, so the consumer can
mount a dataset version from its manifest alone (ARCHITECTURE.md: consumers
never touch the database).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from storage.objects import ObjectStore

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME_RULE = "1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit"
MANIFEST_FORMAT = 1
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
_REF = re.compile(r"^(?P<name>[^@]+)(?:@v?(?P<version>[0-9]{1,9}))?$")
_NOT_IN_COMPONENT = re.compile(r"[/\\\x00-\x1f\x7f]")


class LayoutError(ValueError):
    """A dataset name, reference, file path or manifest that breaks the rules; the message says which."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise LayoutError(f"{name!r} is not a dataset name: use {NAME_RULE}")
    return name


@dataclass(frozen=True)
class DatasetRef:
    """A dataset name and, once resolved, the exact version a job reads."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str) -> DatasetRef:
    """``name`` (latest version) or ``name@3`` / ``name@v3`` (pinned)."""
    match = _REF.match(text.strip())
    if match is None:
        raise LayoutError(f"{text!r} is not a dataset reference: use NAME or NAME@VERSION")
    version = match["version"]
    if version is not None and int(version) < 1:
        raise LayoutError(f"{text!r}: versions start at 1")
    return DatasetRef(check_name(match["name"]), int(version) if version else None)


def check_path(path: str) -> str:
    """A file's path inside a version: relative, '/'-separated, no empty, '.' or '..' parts (it becomes a path
    under /data/<name>/ in every job that mounts the version)."""
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise LayoutError(f"{path!r} is not a usable file path: no absolute paths, empty, '.' or '..' parts")
        if _NOT_IN_COMPONENT.search(part) or not part.isprintable():
            raise LayoutError(f"{path!r} contains a backslash or control characters")
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise LayoutError(f"{path!r} has a name longer than {MAX_COMPONENT_BYTES} bytes")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise LayoutError(f"{path!r} is longer than {MAX_PATH_BYTES} bytes")
    return path


def version_prefix(name: str, version: int) -> str:
    return f"datasets/{name}/v{version}/"


def file_key(name: str, version: int, path: str) -> str:
    return f"{version_prefix(name, version)}files/{path}"


def manifest_key(name: str, version: int) -> str:
    return f"{version_prefix(name, version)}manifest.json"


def is_csv(path: str) -> bool:
    return path.lower().endswith(".csv")


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    rows: int | None = None  # data rows below the header, for CSV files


@dataclass(frozen=True)
class Manifest:
    """What a version holds; written once, after its files, and never changed."""

    name: str
    version: int
    created_by: str
    created_at: str  # ISO 8601, UTC
    description: str = ""
    parent: int | None = None  # the version it was derived from (readings appended), if any
    files: tuple[FileEntry, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> DatasetRef:
        return DatasetRef(self.name, self.version)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def encode(self) -> bytes:
        data = {"format": MANIFEST_FORMAT, **asdict(self)}
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Manifest:
        """Parse and check a stored manifest; its paths end up as mount paths, so each is checked again."""
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.pop("format") != MANIFEST_FORMAT:
                raise LayoutError("unknown manifest format")
            files = tuple(FileEntry(**entry) for entry in data.pop("files"))
            manifest = cls(files=files, **data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LayoutError(f"damaged manifest: {exc}") from exc
        check_name(manifest.name)
        for entry in manifest.files:
            check_path(entry.path)
        return manifest


def load_manifest(store: ObjectStore, ref: DatasetRef) -> tuple[Manifest, str]:
    """The manifest of a pinned version and the sha256 of its stored bytes (which identifies the version's content).

    Raises LayoutError when the version is not in the object store, ObjectStoreError when the store fails.
    """
    if ref.version is None:
        raise LayoutError(f"{ref} names no version")
    key = manifest_key(ref.name, ref.version)
    if not store.exists(key):
        raise LayoutError(f"dataset {ref} is not in the object store")
    raw = store.get_bytes(key)
    manifest = Manifest.decode(raw)
    if manifest.ref != ref:
        raise LayoutError(f"the manifest at {key} describes {manifest.ref}")
    return manifest, hashlib.sha256(raw).hexdigest()
