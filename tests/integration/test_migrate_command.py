"""`labqueue-admin migrate` is what brings a database up to date: the web (gunicorn, as `make up` starts it) and the admin
commands refuse an old schema, saying so, and work once migrate has run. Real object store (migrate makes the bucket)."""

import secrets
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from bench.isolated import read_env_file
from storage.config import StorageConfig
from storage.db import MIGRATIONS, head_revision
from storage.objects import ObjectStore
from tests.conftest import ENV_FILE, GUNICORN_CONFIG, ROOT, labqueue_admin, remove_bucket


def test_a_stale_database_is_refused_until_labqueue_migrate_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'labqueue.db'}"
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = url
    command.upgrade(config, "0005")  # as an older labqueue left it
    env = {**read_env_file(ENV_FILE), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LABQUEUE_DATABASE_URL": url}
    env["LABQUEUE_S3_BUCKET"] = f"labqueue-test-migrate-{secrets.token_hex(4)}"
    stale = f"database schema is at 0005, this labqueue needs {head_revision()}: run labqueue-admin migrate"

    web = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), *GUNICORN_CONFIG, "--bind", "127.0.0.1:0", "webapp:create_app()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert web.returncode != 0 and f"labqueue web not started: {stale}" in web.stderr, web.stderr
    refused = labqueue_admin(env, "create-token", "nobody")
    assert (refused.returncode, refused.stderr.strip()) == (1, f"labqueue-admin: {stale}")

    try:
        migrated = labqueue_admin(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        created = labqueue_admin(env, "create-user", "ada", "--password-stdin", stdin="a long password\n")
        assert created.returncode == 0, created.stderr
    finally:
        remove_bucket(ObjectStore(StorageConfig.from_env(env)))
