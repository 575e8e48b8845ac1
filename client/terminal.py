"""Job output made safe for the reader's terminal: what a job prints must never drive it.

A log is the job's own bytes. Written raw to a terminal, its escape sequences set the window title (OSC 0/2), plant
hyperlinks whose text lies about their target (OSC 8), clear the screen or move the cursor to overwrite what was
shown (CSI), or talk to the terminal itself (DCS, APC). All of that is removed. Colours (SGR, ``ESC [ ... m``) stay
when the output is a terminal, as a job's coloured test report should. A carriage return alone starts a new line:
progress bars then show as lines, and no text can be hidden by overwriting it. Backspaces and other control
characters go; tab and newline stay.
"""

from __future__ import annotations

import codecs
import re

ESC = "\x1b"
# An escape sequence whose end has not arrived yet is held back this long at most, then dropped whole.
MAX_HELD = 4096
SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, screen clears, SGR colours...
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, hyperlinks, clipboard
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-OQ-WYZ\\`-~]"  # the short escapes (reset, charsets, keypad modes...); not the openers above
)
UNSAFE = re.compile(SEQUENCE.pattern + r"|\r\n?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SGR = re.compile(r"\x1b\[[0-9;:]*m")


def _replacement(keep_colours: bool):
    def replace(match: re.Match[str]) -> str:
        found = match.group()
        if found.startswith("\r"):
            return "\n"
        if keep_colours and SGR.fullmatch(found):
            return found
        return ""

    return replace


class TerminalFilter:
    """Cleans a log streamed in chunks of bytes; sequences and UTF-8 characters may straddle chunks."""

    def __init__(self, keep_colours: bool) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._replace = _replacement(keep_colours)
        self._held = ""

    def feed(self, chunk: bytes) -> bytes:
        text = self._held + self._decoder.decode(chunk)
        text, self._held = _split_unfinished(text)
        return UNSAFE.sub(self._replace, text).encode()

    def finish(self) -> bytes:
        """What is left at the end: an unfinished escape sequence is dropped, a last carriage return ends a line."""
        text, self._held = self._held + self._decoder.decode(b"", final=True), ""
        if text.startswith(ESC) and SEQUENCE.match(text) is None:
            text = ""  # cut off by the end of the log: it never completes, so it is never shown
        return UNSAFE.sub(self._replace, text).encode()


def _split_unfinished(text: str) -> tuple[str, str]:
    """(what can be cleaned now, what must wait for the next chunk): an escape sequence cut off by the chunk's end,
    or a last carriage return whose newline may come next."""
    start = text.rfind(ESC)
    if start != -1 and len(text) - start < MAX_HELD and SEQUENCE.match(text, start) is None and _may_continue(text[start:]):
        return text[:start], text[start:]
    if text.endswith("\r"):
        return text[:-1], "\r"
    return text, ""


def _may_continue(tail: str) -> bool:
    """Whether ``tail`` (from an ESC to the end) could still become a complete sequence with more text."""
    if len(tail) == 1:
        return True
    kind = tail[1]
    if kind == "[":
        return re.fullmatch(r"\x1b\[[0-?]*[ -/]*", tail) is not None
    if kind == "]":
        return "\x07" not in tail
    if kind in "PX^_":
        return True
    return re.fullmatch(r"\x1b[ -/]+", tail) is not None


def clean_line(text: str) -> str:
    """One line of job-provided text (a project name, a reason) with every control character and sequence removed."""
    return UNSAFE.sub("", text.replace("\r", " ").replace("\n", " "))
