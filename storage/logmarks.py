"""labqueue's own marks in a job's log, kept out of band: the byte ranges of its notes, of the environment build's
output and of the cut in a capped log.

A log is the job's bytes, and a job can print anything, labqueue's own wording included: text that merely looks
like a marker must never be shown as one. So the consumer says where its marks are in the log object's own
metadata, written in the same request as the bytes (a live snapshot can never pair a log with another version's
marks), and the web highlights those ranges and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

METADATA_KEY = "labqueue-log-marks"
KINDS = frozenset({"labqueue", "build", "cut"})  # a note of labqueue's, the environment build's output, the cut
MAX_MARKS = 40  # S3 keeps 2 KiB of user metadata; each mark takes some 25 bytes


@dataclass(frozen=True)
class Mark:
    kind: str
    start: int  # byte offsets in the log, [start, end)
    end: int


def encode(marks: list[Mark]) -> str:
    """The marks as compact ASCII JSON, fit for an HTTP header; past MAX_MARKS the first ones are kept, and the cut."""
    kept = [m for m in marks if m.kind != "cut"][: MAX_MARKS - 1] + [m for m in marks if m.kind == "cut"][:1]
    return json.dumps([[m.kind, m.start, m.end] for m in sorted(kept, key=lambda m: m.start)], separators=(",", ":"))


def decode(raw: str | None, size: int) -> list[Mark]:
    """The marks stored with a log of ``size`` bytes; anything malformed or out of range is left out."""
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        return []
    marks = []
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 3
            and item[0] in KINDS
            and all(isinstance(n, int) for n in item[1:])
            and 0 <= item[1] < item[2] <= size
        ):
            marks.append(Mark(*item))
    return marks[:MAX_MARKS]
