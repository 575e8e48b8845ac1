"""Where the consumer cut a capped log, so a page that shows only the head and tail of a big log still shows the cut.

A capped log is laid out by consumer/logcapture.py: the first half of the limit, a one-line marker, the newest
half. The limit is a whole number of MiB, so the log's size tells the limit and where the marker sits; one small
ranged read confirms it. The layout is checked, never trusted: a log that merely looks capped has no cut.
"""

from __future__ import annotations

import re

from storage.objects import ObjectStore

MIB = 2**20
MAX_MARK_BYTES = 512
MARK = re.compile(rb"\n\[\.\.\. labqueue: \d+ bytes of log cut here \(log limit (\d+) bytes\) \.\.\.\]\n")


def find_cut(store: ObjectStore, key: str, size: int) -> tuple[int, int] | None:
    """The byte span [start, end) of the consumer's cut marker, or None when the log was not capped."""
    limit = size - size % MIB
    mark_bytes = size - limit
    if limit == 0 or not 0 < mark_bytes < MAX_MARK_BYTES:
        return None
    start = limit // 2
    found = b"".join(store.iter_object(key, offset=start, length=mark_bytes))
    match = MARK.fullmatch(found)
    if match is None or int(match.group(1)) != limit:
        return None
    return start, start + mark_bytes
