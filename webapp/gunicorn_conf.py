"""gunicorn's settings for labqueue's web process, the one place every launcher (make up, compose, tests, bench) reads.

Loaded by path (``--config .../gunicorn_conf.py``), not as ``python:webapp...``: importing the package first would
import the whole app in gunicorn's master before gevent patches the standard library; it is imported after the patch.

gevent's worker serves each connection on a greenlet, so an open live stream (webapp.api.events) costs a few KiB and no
thread; gevent patches sockets, threads and time before the app is imported, so pika, urllib3 (minio) and the upload
uploaders yield while they wait. psycopg2 (PostgreSQL under compose) waits in C and needs psycogreen to yield as well.
``LABQUEUE_WEB_WORKER_CLASS=gthread`` brings back thread workers (4 threads each).
"""

import os

# Read raw only to decide on patching, which must come before anything imports ssl (the settings layer does); the
# setting itself, with its default and its check, is webapp.config.ServerSettings.
if os.environ.get("LABQUEUE_WEB_WORKER_CLASS", "").strip() != "gthread":
    # Patched here, in the master, before ``--logger-class webapp.weblogging...`` imports the webapp package (and with
    # it ssl and urllib3): patched only in the worker, they would stay blocking, and gevent warns so in the log.
    from gevent import monkey

    monkey.patch_all()

from storage.config import StorageConfig  # after the patch
from storage.db import Database, SchemaOutOfDate
from webapp.config import KEEPALIVE_SECONDS, ServerSettings, WebConfig

# Every setting the web reads is checked here, in the master: a bad value stops gunicorn at once with its message
# (a SettingsError is a SystemExit), where a worker failing in create_app would only be restarted over and over.
server = ServerSettings.from_env()
WebConfig.from_env()
STORAGE = StorageConfig.from_env()
# And the schema, likewise in the master: a worker refusing it in create_app would make gunicorn give up with a
# traceback instead of this line. The engine is closed before the fork; each worker opens its own.
_schema_check = Database(STORAGE.database_url)
try:
    _schema_check.require_current()
except SchemaOutOfDate as exc:
    raise SystemExit(f"labqueue web not started: {exc}") from None
finally:
    _schema_check.engine.dispose()
worker_class = server.web_worker_class
workers = server.web_workers
threads = 4 if worker_class == "gthread" else 1
worker_connections = server.web_connections
timeout = 600
keepalive = KEEPALIVE_SECONDS  # gunicorn's 2 s equalled the streams' retry: reconnects met a just-closed connection
LIVE_START_SECONDS = 10.0  # how long a new worker waits for its live-updates subscription before it serves anyway


def post_fork(_server, _worker):
    """Make psycopg2 yield to other greenlets while PostgreSQL answers (SQLite calls are short and stay as they are)."""
    if worker_class == "gevent" and STORAGE.database_url.startswith("postgresql"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def post_worker_init(worker):
    """Start the worker's live-updates hub before it takes a request, so /api/v1/health is true from its first answer
    (started lazily, a fresh worker reported live_updates failing until its subscription came up). With the broker
    down the worker serves after LIVE_START_SECONDS anyway, and health says why live updates fail."""
    services = getattr(worker.wsgi, "extensions", {}).get("labqueue")  # absent when the app failed to load
    if services is None or services.live is None:
        return
    services.live.ensure_started()
    if not services.live.wait_subscribed(LIVE_START_SECONDS):
        worker.log.warning("live updates not subscribed after %.0f s: %s", LIVE_START_SECONDS, services.live.status())
