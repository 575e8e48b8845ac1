"""Migrations: one linear chain, and processes that start together (gunicorn's workers, the producer) can all
upgrade the same fresh database at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import MIGRATIONS, Database
from tests.conftest import ROOT


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
