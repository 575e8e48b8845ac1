"""How a size in bytes reads to people, in every message and page the server writes (the archive check's refusals,
the pages' Jinja filter, the admin CLI). The laptop client and the browser keep their own: neither can import this."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(size: float | None) -> str:
    """``1536`` → ``"1.5 KiB"``, ``2048`` → ``"2 KiB"``; ``None`` (not known) → ``""``."""
    if size is None:
        return ""
    value = float(size)
    for unit in UNITS[:-1]:
        if abs(value) < 1024:
            break
        value /= 1024
    else:
        unit = UNITS[-1]
    return f"{int(value)} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
