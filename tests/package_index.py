"""A package index for environment builds under test, and the packages to put in it.

The index is served from a container on a Docker network of the test session's own; the consumers' build proxy
joins that network (LABQUEUE_BUILD_PROXY_NETWORK), so a build reaches the index the one way it reaches any index:
through the proxy, from the internal build network. Python's http.server lists folders as links, which is all a
PEP 503 simple index is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import tarfile
import textwrap
import time
import zipfile

import docker

INDEX_PORT = 8000
INDEX_ROOT = "/tmp/index"


def probe_requirements_of_its_own() -> str:
    """A requirements set no other test asks for: the environment cache lives as long as the test session, so a test
    that must see a build cannot share its set with one that ran before it."""
    return f"labqueue-probe>=0.0.{secrets.randbelow(10**9)}\n"


class PackageIndex:
    """A running index container; ``add`` puts a distribution file in it, ``url`` is what pip is pointed at."""

    def __init__(self, client: docker.DockerClient, image: str) -> None:
        self.client = client
        self.name = f"labqueue-test-index-{secrets.token_hex(4)}"
        self.network = client.networks.create(self.name, driver="bridge", labels={"labqueue.test": "index"})
        self.container = client.containers.create(
            image,
            ["python3", "-u", "-m", "http.server", str(INDEX_PORT), "--directory", INDEX_ROOT],
            name=self.name,
            network=self.name,
            labels={"labqueue.test": "index"},
        )
        self.container.put_archive("/tmp", _tar({"index/simple/": None}))
        self.container.start()
        self.url = f"http://{self.name}:{INDEX_PORT}/simple/"

    @property
    def address(self) -> str:
        """The index container's own IP address on its network (a build must not reach it but through the proxy)."""
        self.container.reload()
        return self.container.attrs["NetworkSettings"]["Networks"][self.name]["IPAddress"]

    def add(self, project: str, filename: str, data: bytes) -> None:
        self.container.put_archive(INDEX_ROOT, _tar({f"simple/{project}/{filename}": data}))

    def wait_until_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while b"Serving HTTP" not in self.container.logs():
            if time.monotonic() > deadline:
                raise AssertionError(f"the test index did not start within {timeout} s:\n{self.container.logs().decode()}")
            time.sleep(0.2)

    def remove(self) -> None:
        self.container.remove(force=True)
        self.network.reload()
        for attached in self.network.containers:  # the consumers' build proxy, removed by its own teardown first
            self.network.disconnect(attached, force=True)
        self.network.remove()


def _tar(files: dict[str, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name.rstrip("/"))
            if data is None:
                member.type, member.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(member)
            else:
                member.size, member.mode = len(data), 0o644
                tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def wheel_bytes(name: str, version: str, files: dict[str, bytes], requires: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """A pure-Python wheel: its file name and bytes."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **files,
        f"{dist}.dist-info/METADATA": metadata.encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: labqueue-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in contents.items()
    ) + f"{dist}.dist-info/RECORD,,\n"
    contents[f"{dist}.dist-info/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return f"{dist}-py3-none-any.whl", buffer.getvalue()


# An in-tree PEP 517 backend (it needs nothing installed to build): runs BUILD_CODE, then writes a wheel holding the
# module MODULE with whatever BUILD_CODE put in the dict ``report``.
_BACKEND = '''
import base64, hashlib, io, json, os, zipfile

NAME, VERSION, MODULE, REQUIRES = {name!r}, {version!r}, {module!r}, {requires!r}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    report = {{}}
{build_code}
    dist = f"{{MODULE}}-{{VERSION}}"
    metadata = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n" + "".join(f"Requires-Dist: {{r}}\\n" for r in REQUIRES)
    files = {{
        f"{{MODULE}}.py": f"REPORT = {{json.dumps(report)!r}}\\n".encode(),
        f"{{dist}}.dist-info/METADATA": metadata.encode(),
        f"{{dist}}.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: labqueue-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }}
    record = "".join(
        f"{{p}},sha256={{base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()}},{{len(d)}}\\n" for p, d in files.items()
    ) + f"{{dist}}.dist-info/RECORD,,\\n"
    files[f"{{dist}}.dist-info/RECORD"] = record.encode()
    filename = f"{{dist}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return filename
'''


def sdist_bytes(name: str, version: str, build_code: str, requires: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """A source distribution whose in-tree backend runs ``build_code`` (indented into build_wheel) while pip builds
    it; the module it installs, ``name`` with underscores, holds ``REPORT``, a JSON string of the dict ``report``."""
    module = name.replace("-", "_")
    root = f"{module}-{version}"
    backend = _BACKEND.format(name=name, version=version, module=module, requires=requires, build_code=textwrap.indent(build_code, "    "))
    files = {
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{root}/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        f"{root}/backend.py": backend.encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            member = tarfile.TarInfo(path)
            member.size, member.mode = len(data), 0o644
            tar.addfile(member, io.BytesIO(data))
    return f"{root}.tar.gz", buffer.getvalue()
