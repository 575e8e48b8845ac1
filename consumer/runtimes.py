"""A consumer's runtimes: the table of storage/runtimes.py with the admin's overrides of image and commands."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, create_model

from storage.runtimes import RUNTIMES, Runtime
from storage.settings import Settings, setting


def _words(raw: object) -> object:
    return tuple(raw.split()) if isinstance(raw, str) else raw


@functools.cache
def _overrides(table: tuple[Runtime, ...]) -> type[Settings]:
    """One settings class holding ``LABQUEUE_RUNTIME_<NAME>_IMAGE`` / ``_COMMAND`` / ``_INSTALL_COMMAND`` of every
    runtime in the table, so each is declared (and documented) with the table's default."""
    fields: dict[str, Any] = {}
    for runtime in table:
        name = runtime.name
        fields[f"runtime_{name}_image"] = (str, setting(runtime.image, f"the image `{name}` jobs run in (e.g. a licensed MATLAB image for `matlab`)"))
        fields[f"runtime_{name}_command"] = (
            Annotated[tuple[str, ...], BeforeValidator(_words)],
            setting(
                runtime.command,
                f"the command that runs a `{name}` job's entry file",
                expected="a command line",
                shown=f"`{' '.join(runtime.command)}`",
            ),
        )
        fields[f"runtime_{name}_install_command"] = (
            str | None,
            setting(
                runtime.install_command,
                f"the shell command that installs a `{name}` job's `requirements.txt` (unset: not supported)",
                shown="see `storage/runtimes.py`" if runtime.install_command else None,
            ),
        )
    return create_model("RuntimeSettings", __base__=Settings, __module__=__name__, **fields)


RuntimeSettings = _overrides(tuple(RUNTIMES.values()))  # as the table is at start-up, for the settings' docs


def load_runtime(name: str, env: Mapping[str, str] = os.environ) -> Runtime:
    """The named runtime, with its overrides from the environment (RuntimeSettings)."""
    try:
        default = RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(RUNTIMES)}") from None
    settings = _overrides(tuple(RUNTIMES.values())).from_env(env)
    return dataclasses.replace(
        default,
        image=getattr(settings, f"runtime_{name}_image"),
        command=getattr(settings, f"runtime_{name}_command"),
        install_command=getattr(settings, f"runtime_{name}_install_command"),
    )
