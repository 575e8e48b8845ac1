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
    # How requirements.txt is installed (None: not supported): a shell command run in ``image`` under the job's
    # sandbox (consumer/environments.py), which installs $LABQUEUE_REQUIREMENTS into $LABQUEUE_ENV, a folder of its
    # own; pip's settings (index, proxy, wheels only) come in its environment.
    install_command: str | None = None


# A venv of its own that sees the image's packages (a .pth adds the image's site-packages after its own), so pip
# installs only what the image lacks, and a job's pin of a package the image has wins. The image's pip installs into it.
PYTHON_INSTALL = (
    'set -eu; python3 -m venv --without-pip "$LABQUEUE_ENV"; '
    'base=$(python3 -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\'); '
    'own=$("$LABQUEUE_ENV/bin/python" -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\'); '
    'printf "import site; site.addsitedir(%s)\\n" "\'$base\'" >"$own/labqueue-image-packages.pth"; '
    'exec python3 -m pip --python "$LABQUEUE_ENV/bin/python" install -r "$LABQUEUE_REQUIREMENTS"'
)


DEFAULTS = {
    "python": Runtime(
        name="python",
        image="labqueue/worker-python:latest",
        command=("python", "code.py"),
        entry_file="code.py",
        install_command=PYTHON_INSTALL,
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
