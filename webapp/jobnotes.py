"""A job's name, notes and tags: the researcher's own words for it, checked once for the API, the forms and the
client. Kept as written (any language); only control characters are refused, and pages escape what they show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_NAME = 200
MAX_NOTES = 10_000
MAX_TAGS = 20
MAX_TAG = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOTES_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # notes keep their lines and tabs


class NotesError(ValueError):
    """A name, notes or tags that break a rule; the message says which."""


@dataclass(frozen=True)
class JobText:
    """What a request asks to set; None leaves a field as it is."""

    name: str | None = None
    notes: str | None = None
    tags: list[str] | None = None


def clean_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise NotesError("name must be text")
    name = raw.strip()
    if _CONTROL.search(name):
        raise NotesError("name must not hold control characters")
    if len(name) > MAX_NAME:
        raise NotesError(f"name is at most {MAX_NAME} characters")
    return name


def clean_notes(raw: Any) -> str:
    if not isinstance(raw, str):
        raise NotesError("notes must be text")
    notes = raw.replace("\r\n", "\n").strip()
    if _NOTES_CONTROL.search(notes):
        raise NotesError("notes must not hold control characters")
    if len(notes) > MAX_NOTES:
        raise NotesError(f"notes are at most {MAX_NOTES} characters")
    return notes


def clean_tags(raw: Any) -> list[str]:
    """A list of tags, or one text of them separated by commas (the forms'); blanks and repeats dropped, in order."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(tag, str) for tag in items):
        raise NotesError("tags must be a list of texts (or one text, separated by commas)")
    tags: list[str] = []
    for item in items:
        tag = item.strip()
        if not tag or tag in tags:
            continue
        if _CONTROL.search(tag) or "," in tag:
            raise NotesError(f"tag {tag!r} must not hold commas or control characters")
        if len(tag) > MAX_TAG:
            raise NotesError(f"a tag is at most {MAX_TAG} characters: {tag[:MAX_TAG]!r}…")
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise NotesError(f"at most {MAX_TAGS} tags")
    return tags


def parse_patch(body: Any) -> JobText:
    """A PATCH body: a JSON object with any of name, notes, tags, and nothing else."""
    if not isinstance(body, dict):
        raise NotesError("send a JSON object with any of name, notes, tags")
    unknown = sorted(set(body) - {"name", "notes", "tags"})
    if unknown:
        raise NotesError(f"only name, notes and tags can be changed, not {', '.join(unknown)}")
    return JobText(
        name=clean_name(body["name"]) if "name" in body else None,
        notes=clean_notes(body["notes"]) if "notes" in body else None,
        tags=clean_tags(body["tags"]) if "tags" in body else None,
    )
