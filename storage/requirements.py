"""What a job's requirements.txt may say: named requirements (PEP 508 names, extras, versions, markers) and comments.

pip reads far more from such a file: options (``-i``, ``--extra-index-url``, ``-f``, ``-e``, ``-r``, ``-c``,
``--trusted-host``, per-line ``--hash`` or ``--config-settings``), direct references (``name @ URL``), URLs, VCS links
and local paths. Each of them lets a job choose where code comes from, or how it is built, so each is refused, with
the line that says it. Lines are split and comments cut the way pip does it (a ``#`` at the start of a line or after
whitespace), and what is left must parse as one ``packaging`` Requirement without a URL. The environment build then
installs from :func:`canonical_requirements`, text written anew from the parsed requirements, never the job's own
file: whatever pip might read differently in the original is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

MAX_REQUIREMENTS_BYTES = 64 * 1024
# pip's own rule (pip._internal.req.req_file.COMMENT_RE): a comment starts at a '#' that begins the line or follows
# whitespace; 'name#x' is not a comment.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_SHOWN_CHARS = 80


class RequirementsError(ValueError):
    """A requirements.txt line that is not a plain named requirement; the message names the line and its text."""

    def __init__(self, line_number: int, line: str, why: str) -> None:
        shown = line.strip()
        shown = shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 1] + "…"
        super().__init__(
            f"requirements.txt line {line_number} ({shown!r}): {why}. Only named requirements (e.g. 'numpy==2.1' or "
            "'pandas[excel]>=2; python_version >= \"3.10\"') and comments are allowed."
        )
        self.line_number = line_number


@dataclass(frozen=True)
class _Line:
    number: int
    text: str


def parse_requirements(data: bytes) -> list[Requirement]:
    """The named requirements of a requirements.txt, or RequirementsError for the first line that is anything else."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_number = data[: exc.start].count(b"\n") + 1
        raise RequirementsError(line_number, data.splitlines()[line_number - 1].decode("utf-8", "replace"), "not UTF-8 text") from None
    return [_parse_line(line) for line in _content_lines(text)]


def canonical_requirements(requirements: list[Requirement]) -> str:
    """The requirements as pip gets them: canonical names (so no name reads as a file), sorted, one per line.

    Order, comments and spelling do not change what pip installs, so they do not change the environment's identity."""
    return "".join(f"{line}\n" for line in sorted({_canonical(requirement) for requirement in requirements}))


def _content_lines(text: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.endswith("\\") and not _COMMENT.match(raw):
            raise RequirementsError(number, raw, "line continuations are not allowed")
        content = _COMMENT.sub("", raw).strip()
        if content:
            lines.append(_Line(number, content))
    return lines


def _parse_line(line: _Line) -> Requirement:
    if line.text.startswith("-"):
        raise RequirementsError(line.number, line.text, "pip options are not allowed")
    if "${" in line.text:
        raise RequirementsError(line.number, line.text, "environment variables are not allowed")
    try:
        requirement = Requirement(line.text)
    except InvalidRequirement as exc:
        why = f"not a named requirement ({exc}); URLs, VCS links, local paths and per-line options are not allowed"
        raise RequirementsError(line.number, line.text, why) from None
    if requirement.url is not None:
        raise RequirementsError(line.number, line.text, "direct references ('name @ URL') are not allowed")
    return requirement


def _canonical(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(canonicalize_name(extra) for extra in requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker is not None else ""
    return f"{canonicalize_name(requirement.name)}{extras}{requirement.specifier}{marker}"
