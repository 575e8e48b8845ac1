"""The runtimes a job can run in, written once.

Everything else derives from ``RUNTIMES``: the archive check (which entry file selects which runtime), the broker's
topology (one queue per runtime, ``producer.topology.job_queue``), the consumer's defaults (image and command, which
an admin overrides per consumer with settings), the upload form, and the browser's zip preview, which reads the table
from the upload form (``data-runtimes``, the same list as ``GET /api/v1/runtimes``) instead of keeping a copy. It lives in ``storage`` because the web app, the
producer and the consumer all import ``storage`` and none of them imports another's runtime list.
"""

from __future__ import annotations

from dataclasses import dataclass

# A venv of its own that sees the image's packages (a .pth adds the image's site-packages after its own), so pip
# installs only what the image lacks, and a job's pin of a package the image has wins. The image's pip installs into it.
PYTHON_INSTALL = (
    'set -eu; python3 -m venv --without-pip "$LABQUEUE_ENV"; '
    'base=$(python3 -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\'); '
    'own=$("$LABQUEUE_ENV/bin/python" -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\'); '
    'printf "import site; site.addsitedir(%s)\\n" "\'$base\'" >"$own/labqueue-image-packages.pth"; '
    'exec python3 -m pip --python "$LABQUEUE_ENV/bin/python" install -r "$LABQUEUE_REQUIREMENTS"'
)


@dataclass(frozen=True)
class Runtime:
    name: str  # in the API, the job row, the routing key and the queue name (jobs.<name>)
    label: str  # what people read on the pages
    entry_file: str  # the file at the project's root that selects this runtime and that the command runs
    image: str  # the default image; a consumer's settings may name another (e.g. a licensed MATLAB)
    command: tuple[str, ...]
    # How requirements.txt is installed (None: not supported): a shell command run in ``image`` under the job's
    # sandbox (consumer/environments.py), which installs $LABQUEUE_REQUIREMENTS into $LABQUEUE_ENV, a folder of its
    # own; pip's settings (index, proxy, wheels only) come in its environment.
    install_command: str | None = None

    def public(self) -> dict[str, str]:
        """What a browser or a script needs to know of it (GET /api/v1/runtimes); the image stays the consumers' affair."""
        return {"name": self.name, "label": self.label, "entry_file": self.entry_file}


RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (
        Runtime(
            name="python",
            label="Python",
            entry_file="code.py",
            image="labqueue/worker-python:latest",
            command=("python", "code.py"),
            install_command=PYTHON_INSTALL,
        ),
        Runtime(
            name="matlab",
            label="MATLAB / Octave",
            entry_file="code.m",
            image="labqueue/worker-matlab:latest",
            command=("octave-cli", "--no-gui", "code.m"),
        ),
    )
}


def public_runtimes() -> list[dict[str, str]]:
    """The table as the API and the upload form hand it to browsers and scripts."""
    return [runtime.public() for runtime in RUNTIMES.values()]


def entry_files() -> dict[str, str]:
    """Entry file → runtime name, in the table's order."""
    return {runtime.entry_file: runtime.name for runtime in RUNTIMES.values()}


def entry_file_choices() -> str:
    """The entry files as a researcher reads them in an error: "code.py (Python) or code.m (MATLAB / Octave)"."""
    named = [f"{runtime.entry_file} ({runtime.label})" for runtime in RUNTIMES.values()]
    return " or ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
