"""Migrations: one linear chain; concurrent upgrades of one fresh database all succeed; and only `labqueue-admin migrate`
migrates: the web, the producer and the other commands refuse a schema that is not current, saying what to run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from producer.__main__ import main as producer_main
from producer.config import BrokerConfig
from storage.config import StorageConfig
from storage.db import MIGRATIONS, Database, SchemaOutOfDate, head_revision
from tests.conftest import ROOT
from webapp import create_app
from webapp.admin import cli
from webapp.config import WebConfig


def test_the_revisions_form_one_chain() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert scripts.get_heads() == ["0007"]
    assert [r.revision for r in scripts.walk_revisions()] == ["0007", "0006", "0005", "0004", "0003", "0002", "0001"]


def test_concurrent_upgrades_of_a_fresh_database_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = f"from storage.db import Database; Database({url!r}).upgrade()"
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [process.communicate(timeout=120)[1] for process in processes]

    assert [process.returncode for process in processes] == [0] * 6, errors
    columns = {column["name"] for column in inspect(Database(url).engine).get_columns("outbox")}
    assert "held" in columns


def database_at(url: str, revision: str | None) -> Database:
    """A database as an older labqueue left it (None: never migrated)."""
    db = Database(url)
    if revision is not None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection_url"] = url
        command.upgrade(config, revision)
    return db


def in_process_app(url: str):
    return create_app(
        {
            "TESTING": True,
            "WEB_CONFIG": WebConfig(secret_key="in-process"),
            "STORAGE_CONFIG": StorageConfig(database_url=url, s3_endpoint="127.0.0.1:1", s3_access_key="k", s3_secret_key="s"),
            "BROKER_CONFIG": BrokerConfig(url="amqp://127.0.0.1:1/", connect_timeout=1),
        }
    )


@pytest.fixture
def labqueue_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment the processes read, pointing at a database of this test's own (servers at closed ports)."""
    url = f"sqlite:///{tmp_path / 'labqueue.db'}"
    for name, value in {
        "LABQUEUE_DATABASE_URL": url,
        "LABQUEUE_BROKER_URL": "amqp://127.0.0.1:1/",
        "LABQUEUE_S3_ENDPOINT": "127.0.0.1:1",
        "LABQUEUE_S3_ACCESS_KEY": "k",
        "LABQUEUE_S3_SECRET_KEY": "s",
        "LABQUEUE_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(name, value)
    return url


def test_nothing_but_migrate_changes_the_schema_and_a_stale_one_is_refused(
    labqueue_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head = head_revision()
    db = database_at(labqueue_env, "0005")
    stale = f"database schema is at 0005, this labqueue needs {head}: run labqueue-admin migrate"

    with pytest.raises(SchemaOutOfDate, match=re.escape(stale)):
        in_process_app(labqueue_env)
    assert cli.main(["create-token", "ada"]) == 1
    assert capsys.readouterr().err.strip() == f"labqueue-admin: {stale}"
    with pytest.raises(SystemExit, match=re.escape(f"producer not started: {stale}")):
        producer_main()
    assert db.schema_revision() == "0005"  # none of them migrated

    Database(labqueue_env).upgrade()  # what `labqueue-admin migrate` runs (with the bucket: tests/integration/test_migrate_command.py)
    assert db.schema_revision() == head
    assert in_process_app(labqueue_env).extensions["labqueue"].db.schema_revision() == head


def test_an_empty_database_is_refused_too(labqueue_env: str) -> None:
    database_at(labqueue_env, None)
    with pytest.raises(SchemaOutOfDate, match=re.escape("database schema is at none (an empty database)")):
        in_process_app(labqueue_env)
