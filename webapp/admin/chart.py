"""The admin page's chart of jobs per state over time: geometry computed here, drawn as SVG by a template.

Server-rendered, so it needs no script and nothing from outside the server (the lab may have no internet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from storage.states import JobState
from webapp.admin.data import History

STATE_COLOURS = {
    JobState.QUEUED.value: "#98a2b3",
    JobState.PREPARING.value: "#84caff",
    JobState.RUNNING.value: "#2e90fa",
    JobState.SUCCEEDED.value: "#32d583",
    JobState.FAILED.value: "#f04438",
    JobState.TIMED_OUT.value: "#f79009",
    JobState.OUT_OF_MEMORY.value: "#9e77ed",
    JobState.OUTPUT_TOO_LARGE.value: "#b54708",
    JobState.CANCELLED.value: "#d0d5dd",
    JobState.SYSTEM_ERROR.value: "#7a271a",
}
WIDTH, HEIGHT = 940, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26
MAX_X_LABELS = 12


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's baseline
    rects: list[Rect]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]
    total: int


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 4, 6 or 8 times a power of ten at or above ``value`` (at least 4): even, so the middle
    tick is a whole number too, and the axis reads well."""
    value = max(value, 4)
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 4, 6, 8, 10) if step * power >= value)


def _label(history: History, index: int) -> str:
    at = history.start + history.bucket * index
    return at.strftime("%m-%d") if history.bucket >= timedelta(days=1) else at.strftime("%H:%M")


def stacked_bars(history: History) -> Chart:
    """A bar per time bucket, stacked by state in the order of the job's life."""
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    buckets = len(history.counts)
    top_value = nice_ceiling(max((sum(c.values()) for c in history.counts), default=0))
    slot = (right - LEFT) / max(buckets, 1)
    scale = (bottom - TOP) / top_value
    rects = []
    for index, counts in enumerate(history.counts):
        y = float(bottom)
        for state, colour in STATE_COLOURS.items():
            if counts[state]:
                height = counts[state] * scale
                y -= height
                title = f"{_label(history, index)} UTC: {counts[state]} {state}"
                rects.append(Rect(LEFT + index * slot + 1, y, max(slot - 2, 1), height, colour, title))
    every = max(1, math.ceil(buckets / MAX_X_LABELS))
    x_ticks = [Tick(LEFT + (index + 0.5) * slot, _label(history, index)) for index in range(0, buckets, every)]
    y_ticks = [Tick(bottom - value * scale, str(value)) for value in (0, top_value // 2, top_value)]
    present = {state for counts in history.counts for state, count in counts.items() if count}
    legend = [(state, colour) for state, colour in STATE_COLOURS.items() if state in present]
    total = sum(sum(c.values()) for c in history.counts)
    return Chart(WIDTH, HEIGHT, LEFT, TOP, right, bottom, rects, x_ticks, y_ticks, legend, total)
