"""Sizes read the same in every message the server writes (storage.units.human_bytes)."""

from __future__ import annotations

import io
import zipfile

import pytest

from storage.archive import ArchiveError, ArchiveLimits, inspect_zip
from storage.units import human_bytes


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5 MiB"),
        (int(2.25 * 2**30), "2.2 GiB"),
        (3 * 2**40, "3 TiB"),
        (2**50, "1024 TiB"),
    ],
)
def test_human_bytes(size: int | None, text: str) -> None:
    assert human_bytes(size) == text


def test_the_archive_check_states_sizes_with_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("code.py", "x" * 3000)
    with pytest.raises(ArchiveError) as refused:
        inspect_zip(buffer, "p.zip", limits=ArchiveLimits(max_total_uncompressed=2048))
    assert str(refused.value) == f"The project unpacks to {human_bytes(3000)}; the limit is 2 KiB."
