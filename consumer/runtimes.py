"""Runtimes as data: which image runs which entry file with which command, and from which queue."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, create_model

from storage.settings import Settings, setting


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


def _words(raw: object) -> object:
    return tuple(raw.split()) if isinstance(raw, str) else raw


def _overrides(defaults: Mapping[str, Runtime]) -> type[Settings]:
    """One settings class holding ``LABQUEUE_RUNTIME_<NAME>_IMAGE`` / ``_COMMAND`` / ``_INSTALL_COMMAND`` of every
    runtime in the table, so each is declared (and documented) with the table's default."""
    fields: dict[str, Any] = {}
    for name, runtime in defaults.items():
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
                shown="see `consumer/runtimes.py`" if runtime.install_command else None,
            ),
        )
    return create_model("RuntimeSettings", __base__=Settings, __module__=__name__, **fields)


RuntimeSettings = _overrides(DEFAULTS)


def load_runtime(name: str, env: Mapping[str, str] = os.environ) -> Runtime:
    """The named runtime, with its overrides from the environment (RuntimeSettings)."""
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(sorted(DEFAULTS))}") from None
    settings = RuntimeSettings.from_env(env)
    return Runtime(
        name=name,
        image=getattr(settings, f"runtime_{name}_image"),
        command=getattr(settings, f"runtime_{name}_command"),
        entry_file=default.entry_file,
        install_command=getattr(settings, f"runtime_{name}_install_command"),
    )
