"""A bucket and SQLite database of a benchmark's own on the running services, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from storage.config import StorageConfig
from storage.objects import ObjectStore

ROOT = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


@contextlib.contextmanager
def isolated_env() -> Iterator[dict[str, str]]:
    """The environment of var/labqueue.env with a fresh bucket and database; nothing of the real install is touched."""
    env = {**os.environ, **read_env_file(ROOT / "var" / "labqueue.env")}
    with tempfile.TemporaryDirectory(prefix="labqueue-bench-") as scratch:
        env["LABQUEUE_S3_BUCKET"] = f"labqueue-bench-{secrets.token_hex(4)}"
        env["LABQUEUE_DATABASE_URL"] = f"sqlite:///{scratch}/bench.db"
        # The schema and the bucket, as the start-up scripts make them: the web and the producer refuse an unmigrated database.
        subprocess.run([sys.executable, "-m", "webapp.admin.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        store = ObjectStore(StorageConfig.from_env(env))
        try:
            yield env
        finally:
            client = store.client
            for item in client.list_objects(bucket_name=store.bucket, recursive=True):
                client.remove_object(bucket_name=store.bucket, object_name=item.object_name)
            client.remove_bucket(bucket_name=store.bucket)
