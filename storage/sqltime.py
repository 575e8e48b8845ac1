"""Time spans inside SQL, so accounting and metrics aggregate in the database instead of loading every job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func
from sqlalchemy.sql.elements import ColumnElement


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """``later - earlier`` in seconds for the two databases labqueue supports (SQLite keeps times as text)."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    if dialect == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    raise ValueError(f"time spans are not implemented for the {dialect} database")
