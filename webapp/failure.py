"""Why a job ended badly, from the end of its log: the state in words, the last lines, the exception in them (a
Python traceback's final frame and message, Octave's ``error:`` line) and a hint for the causes researchers meet
most (a dataset not chosen, a module not installed, the memory or time limit).

Pure: the caller reads the log's tail and the facts from the job's row; the job page, the API's job JSON and so
the command-line client all show what this module derives, so they never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.logmarks import Mark
from storage.units import human_bytes
from webapp.formatting import human_seconds

TAIL_BYTES = 32 * 1024  # what the caller reads of a log's end
EXCERPT_LINES = 20
MAX_EXCERPT_LINES = 40  # a long traceback's final frame is kept in view up to this many lines

BAD_STATES = {
    "failed": "Failed",
    "timed_out": "Timed out",
    "out_of_memory": "Out of memory",
    "output_too_large": "Output too large",
    "system_error": "System error",
}

# Import names whose PyPI distribution is named otherwise: the hint names what to write in requirements.txt.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "Bio": "biopython",
    "serial": "pyserial",
    "dateutil": "python-dateutil",
}

_TRACEBACK = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+')
_PY_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::|$)")
_OCTAVE_ERROR = re.compile(r"^error: (?!called from$)")
_NO_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'", re.MULTILINE)
_DATA_PATH = re.compile(r"/data/([a-z0-9][a-z0-9._-]*)")
_NOT_FOUND = re.compile(r"FileNotFoundError|No such file|unable to find|unable to open|does not exist|not found|couldn't open|could not open", re.IGNORECASE)
_PIP_MISSING = re.compile(r"No matching distribution found for (\S+)")
_OCTAVE_UNDEFINED = re.compile(r"^error: '([^']+)' undefined", re.MULTILINE)


@dataclass(frozen=True)
class JobFacts:
    """What the summary needs of the job's record."""

    status: str
    reason: str
    runtime: str
    datasets: tuple[str, ...]  # the job's references, name@version
    memory_limit: int  # MiB
    time_limit: int  # seconds
    peak_memory_bytes: int | None = None


@dataclass(frozen=True)
class Failure:
    summary: str  # the state in words and the reason, one line
    lines: tuple[str, ...]  # the log's last lines, the job's own output and the environment build's
    highlight: tuple[int, int] | None  # the exception's lines in ``lines``, [start, end)
    hint: str | None

    @property
    def excerpt(self) -> str:
        return "\n".join(self.lines)

    @property
    def exception(self) -> str | None:
        return None if self.highlight is None else "\n".join(self.lines[self.highlight[0] : self.highlight[1]])

    def to_dict(self) -> dict[str, str | None]:
        return {"summary": self.summary, "excerpt": self.excerpt, "exception": self.exception, "hint": self.hint}


def is_failure(status: str) -> bool:
    return status in BAD_STATES


def job_text(tail: bytes, offset: int, marks: list[Mark]) -> str:
    """The tail of a log (its bytes from ``offset``) without labqueue's own notes and cut, decoded leniently: what
    the job and its environment build wrote, which is where the cause is."""
    keep = bytearray()
    at = offset
    for mark in sorted((m for m in marks if m.kind in ("labqueue", "cut") and m.end > offset), key=lambda m: m.start):
        start = max(mark.start, offset)
        keep += tail[at - offset : start - offset]
        at = max(at, mark.end)
    keep += tail[at - offset :]
    text = keep.decode("utf-8", errors="replace")
    if offset > 0:  # the first line is cut short
        text = text.partition("\n")[2]
    return text


def summarize(facts: JobFacts, text: str, existing_datasets: list[str]) -> Failure | None:
    """The summary of a job that ended badly; None for any other state."""
    if not is_failure(facts.status):
        return None
    lines = _terminal_lines(text)
    highlight = _python_exception(lines) or _octave_error(lines) or _last_exception_line(lines)
    first = max(0, len(lines) - EXCERPT_LINES)
    if highlight is not None:
        first = min(first, max(highlight[0], len(lines) - MAX_EXCERPT_LINES))
    shown = tuple(lines[first:])
    if highlight is not None:
        start, end = max(0, highlight[0] - first), highlight[1] - first
        highlight = (start, end) if end > start else None
    exception = None if highlight is None else "\n".join(shown[highlight[0] : highlight[1]])
    summary = f"{BAD_STATES[facts.status]}: {facts.reason}" if facts.reason else BAD_STATES[facts.status]
    return Failure(summary=summary, lines=shown, highlight=highlight, hint=_hint(facts, exception or "", text, existing_datasets))


def _terminal_lines(text: str) -> list[str]:
    """Lines as a terminal leaves them: a carriage return (a progress bar) rewrites its line; trailing blanks go."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _python_exception(lines: list[str]) -> tuple[int, int] | None:
    """The last traceback's final frame (its ``File`` line, source and carets) and the exception's message."""
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if not starts:
        return None
    frames = [i for i in range(starts[-1], len(lines)) if _FRAME.match(lines[i])]
    message = next((i for i in range(starts[-1] + 1, len(lines)) if _PY_EXCEPTION.match(lines[i])), None)
    if message is None:
        return None
    last_frame = max((i for i in frames if i < message), default=message)
    end = message + 1
    while end < len(lines) and lines[end] and not lines[end].startswith(("[", "During handling", "The above")) and end - message < 5:
        end += 1  # a message over several lines
    return last_frame, end


def _octave_error(lines: list[str]) -> tuple[int, int] | None:
    """Octave's last ``error:`` line, with the ``called from`` lines after it."""
    found = [i for i, line in enumerate(lines) if _OCTAVE_ERROR.match(line)]
    if not found:
        return None
    end = found[-1] + 1
    while end < len(lines) and (lines[end] == "error: called from" or lines[end].startswith((" ", "\t"))) and end - found[-1] < 6:
        end += 1
    return found[-1], end


def _last_exception_line(lines: list[str]) -> tuple[int, int] | None:
    """An exception printed without its traceback, or pip's ``ERROR:`` of a failed environment build."""
    for i in range(len(lines) - 1, -1, -1):
        if _PY_EXCEPTION.match(lines[i]) or lines[i].startswith("ERROR: "):
            return i, i + 1
    return None


def _hint(facts: JobFacts, exception: str, text: str, existing: list[str]) -> str | None:
    mib = 2**20
    if facts.status == "out_of_memory" or "MemoryError" in exception:
        peak = f"the peak seen was {human_bytes(facts.peak_memory_bytes)} " if facts.peak_memory_bytes else ""
        return f"The job used all its memory: {peak}of the {human_bytes(facts.memory_limit * mib)} limit. Submit with a larger memory limit (--memory-limit MIB) or use less memory (read the data in chunks)."
    if facts.status == "timed_out":
        return f"The job ran for its whole time limit ({human_seconds(facts.time_limit)}). Submit with a larger time limit (--time-limit SECONDS), or write partial results to output/ as you go: they are kept."
    if facts.status == "system_error":
        return "labqueue's infrastructure failed, not your code: resubmit the job, and tell the lab's admins if it happens again."
    if facts.status == "output_too_large":
        return "The job wrote more to output/ than the output limit allows: keep only the results you need there."
    if found := _NO_MODULE.search(exception) or _NO_MODULE.search(text.rsplit(_TRACEBACK, 1)[-1]):
        module = found.group(1).split(".")[0]
        name = DISTRIBUTIONS.get(module, module)
        return f"The module {module!r} is not installed in the {facts.runtime} image: add a line {name} (with ==VERSION to pin it) to requirements.txt at the project's root."
    if found := _PIP_MISSING.search(text):
        return f"The lab's package index has no wheel of {found.group(1)}: check its name and version in requirements.txt (only wheels are installed)."
    if (found := _DATA_PATH.search(exception)) and _NOT_FOUND.search(exception):
        return _dataset_hint(found.group(1), facts.datasets, existing)
    if found := _OCTAVE_UNDEFINED.search(exception):
        return f"{found.group(1)!r} is not defined: if it comes from an Octave package, load it first (for example pkg load signal at the top of code.m)."
    return None


def _dataset_hint(name: str, chosen: tuple[str, ...], existing: list[str]) -> str:
    mounted = [ref.split("@")[0] for ref in chosen]
    there = f"The datasets are: {', '.join(existing)}." if existing else "There are no datasets yet."
    if name in mounted:
        return f"The dataset {name} is mounted at /data/{name}/ but has no such file: see its files on the Datasets page."
    if name in existing:
        return f"The job reads /data/{name}/ but was submitted without the dataset {name}: submit it with --dataset {name} (or pick {name} under Datasets in the upload form)."
    return f"The job reads /data/{name}/ but there is no dataset {name}. {there} Choose one with --dataset NAME (or under Datasets in the upload form)."

