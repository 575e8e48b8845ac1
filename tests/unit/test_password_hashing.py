"""Password hashes under gevent (the web's worker class): a login's scrypt must not freeze the worker's other
connections, its open live streams among them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# In a process patched as gunicorn_conf patches the web: a ticker greenlet counts how often it ran while one login's
# password was checked. Checked on the event loop, it cannot run at all until the check is over.
LOGIN_WHILE_TICKING = """
from gevent import monkey
monkey.patch_all()
import sys
import gevent
from storage.db import Database
from webapp.accounts import authenticate, create_user

db = Database(f"sqlite:///{sys.argv[1]}")
db.upgrade()
with db.session() as session:
    create_user(session, "alice", "correct horse battery")
ticks = []
def tick():
    while True:
        ticks.append(1)
        gevent.sleep(0)
gevent.spawn(tick)
gevent.sleep(0)
with db.session() as session:
    before = len(ticks)
    assert authenticate(session, "alice", "correct horse battery") is not None
    print(len(ticks) - before)
"""


def test_a_login_under_gevent_leaves_the_other_greenlets_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOGIN_WHILE_TICKING, str(tmp_path / "users.db")], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0, "the password check held the event loop"
