"""Whole-number query parameters, bounded: the API refuses what is out of range (400), pages clamp it.

An unbounded ``page`` reaches the database as an offset: 9223372036854775807 overflowed SQLite's integer and
answered 500.
"""

from __future__ import annotations

import re

from flask import request

MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 50  # the API's jobs per page
MAX_PER_PAGE = 200
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")


def _whole(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    return int(raw) if WHOLE_NUMBER.fullmatch(raw) else None


def bounded_arg(name: str, default: int, low: int, high: int) -> int | None:
    """The parameter as a whole number within [low, high], the default when absent, None when it is not."""
    if (request.args.get(name) or "").strip() == "":
        return default
    value = _whole(name)
    return value if value is not None and low <= value <= high else None


def clamped_arg(name: str, default: int, low: int, high: int) -> int:
    """For pages: the nearest allowed value; what is not a number reads as the default."""
    value = _whole(name)
    return default if value is None else min(max(value, low), high)
