"""Runtimes as data: which image runs which entry file with which command, and from which queue."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str
    command: tuple[str, ...]
    entry_file: str
    # How requirements.txt is installed into an environment image built on ``image`` (None: not supported).
    install_command: str | None = None


DEFAULTS = {
    "python": Runtime(
        name="python",
        image="labqueue/worker-python:latest",
        command=("python", "code.py"),
        entry_file="code.py",
        install_command="pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt",
    ),
    "matlab": Runtime(
        name="matlab",
        image="labqueue/worker-matlab:latest",
        command=("octave-cli", "--no-gui", "code.m"),
        entry_file="code.m",
    ),
}


def load_runtime(name: str, env: Mapping[str, str] = os.environ) -> Runtime:
    """The named runtime, with ``LABQUEUE_RUNTIME_<NAME>_IMAGE`` / ``_COMMAND`` overrides (e.g. a licensed MATLAB image)."""
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(sorted(DEFAULTS))}") from None
    prefix = f"LABQUEUE_RUNTIME_{name.upper()}_"
    command = env.get(prefix + "COMMAND")
    return Runtime(
        name=name,
        image=env.get(prefix + "IMAGE", default.image),
        command=tuple(command.split()) if command else default.command,
        entry_file=default.entry_file,
        install_command=env.get(prefix + "INSTALL_COMMAND", default.install_command or "") or None,
    )
