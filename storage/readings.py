"""Sensor readings (``equipment_id,timestamp,value``) checked row by row, the good rows written to a file.

A CSV upload is read line by line and its accepted rows go to a file on disk,
so a gigabyte of readings never sits in memory; only the first
``MAX_REPORTED`` bad rows are kept for the answer, the rest are counted.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TextIO

HEADER = ("equipment_id", "timestamp", "value")
READINGS_FILE = "readings.csv"
MAX_REPORTED = 1000

EQUIPMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
# ISO 8601 extended date and time with a UTC offset (RFC 3339 allows a space for the T).
TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


class ReadingsError(ValueError):
    """The upload as a whole is unusable (no header, wrong columns, not a list of records); nothing is stored."""


@dataclass(frozen=True)
class BadRow:
    where: int  # line number in the CSV (the header is line 1), or record number in the JSON list (from 1)
    reason: str


@dataclass
class Checked:
    accepted: int = 0
    rejected: int = 0
    errors: list[BadRow] = field(default_factory=list)  # the first MAX_REPORTED bad rows

    def reject(self, where: int, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(BadRow(where, reason))


def check_equipment_id(value: str) -> str | None:
    if not value:
        return "equipment_id is empty"
    if not EQUIPMENT_ID.match(value):
        return f"equipment_id {value[:80]!r} is not 1-128 letters, digits, '.', '_', ':', '/' or '-'"
    return None


def check_timestamp(value: str) -> str | None:
    match = TIMESTAMP.match(value)
    if match is None:
        return f"timestamp {value[:80]!r} is not an ISO 8601 date and time"
    if match["offset"] is None:
        return f"timestamp {value!r} has no UTC offset (add Z or e.g. +01:00)"
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        return f"timestamp {value!r} is not a valid time: {exc}"
    return None


def check_value(value: str) -> str | None:
    if not NUMBER.match(value):
        return f"value {value[:80]!r} is not a number"
    if not math.isfinite(float(value)):
        return f"value {value[:80]!r} is out of range"
    return None


def check_row(equipment_id: str, timestamp: str, value: str) -> str | None:
    """The reason a reading is bad, or None when it is good; the three fields are stripped text."""
    return check_equipment_id(equipment_id) or check_timestamp(timestamp) or check_value(value)


def _writer(out: TextIO) -> Any:
    return csv.writer(out, lineterminator="\n")


def check_csv(upload: IO[bytes], out: TextIO) -> Checked:
    """Check a CSV upload whose header names the three columns (in any order); write good rows to ``out`` in
    HEADER order without a header line. Bytes that are not UTF-8 make their row bad, not the whole file."""
    text = io.TextIOWrapper(upload, encoding="utf-8-sig", errors="replace", newline="")
    try:
        reader = csv.reader(text, strict=True)
        checked = Checked()
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ReadingsError(f"line 1: the header cannot be read: {exc}") from exc
        order = _column_order(header)
        writer = _writer(out)
        line = 2
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                checked.reject(line, f"not valid CSV: {exc}")
                line = reader.line_num + 1
                continue
            if row is None:
                break
            if row:  # blank lines are skipped
                _check_csv_row(row, order, line, checked, writer)
            line = reader.line_num + 1
        return checked
    finally:
        text.detach()


def _column_order(header: list[str] | None) -> list[int]:
    if header is None:
        raise ReadingsError("the file is empty; it needs the header line equipment_id,timestamp,value")
    names = [name.strip().lower() for name in header]
    if sorted(names) != sorted(HEADER):
        raise ReadingsError(f"line 1: the header must name the columns {','.join(HEADER)}, not {','.join(header)[:200]}")
    return [names.index(name) for name in HEADER]


def _check_csv_row(row: list[str], order: list[int], line: int, checked: Checked, writer: Any) -> None:
    if len(row) != len(HEADER):
        checked.reject(line, f"{len(row)} fields; expected {len(HEADER)} ({','.join(HEADER)})")
        return
    fields = [row[order[0]].strip(), row[order[1]].strip(), row[order[2]].strip()]
    reason = check_row(*fields)
    if reason is not None:  # none of the three patterns admits U+FFFD, so undecodable bytes end up here
        checked.reject(line, "not valid UTF-8" if "\ufffd" in "".join(row) else reason)
        return
    writer.writerow(fields)
    checked.accepted += 1


def check_records(records: Any, out: TextIO) -> Checked:
    """Check JSON readings: a list of {"equipment_id": str, "timestamp": str, "value": number} objects."""
    if isinstance(records, dict) and set(records) == {"records"}:
        records = records["records"]
    if not isinstance(records, list):
        raise ReadingsError('send a JSON list of readings, or {"records": [...]}')
    checked = Checked()
    writer = _writer(out)
    for number, record in enumerate(records, start=1):
        reason, fields = _check_record(record)
        if reason is not None:
            checked.reject(number, reason)
        else:
            writer.writerow(fields)
            checked.accepted += 1
    return checked


def _check_record(record: Any) -> tuple[str | None, list[str]]:
    if not isinstance(record, dict):
        return "not a JSON object", []
    missing = [name for name in HEADER if name not in record]
    extra = sorted(set(record) - set(HEADER))
    if missing or extra:
        return "; ".join(_describe_keys(missing, extra)), []
    equipment_id, timestamp, value = (record[name] for name in HEADER)
    if not isinstance(equipment_id, str) or not isinstance(timestamp, str):
        return "equipment_id and timestamp must be strings", []
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"value {str(value)[:80]!r} is not a JSON number", []
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        return f"value {str(value)[:80]} is out of range", []
    fields = [equipment_id.strip(), timestamp.strip(), repr(value) if isinstance(value, float) else str(value)]
    return check_equipment_id(fields[0]) or check_timestamp(fields[1]), fields


def _describe_keys(missing: Iterable[str], extra: Iterable[str]) -> list[str]:
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(extra)}")
    return parts
