"""gunicorn's settings for labqueue's web process, the one place every launcher (make up, compose, tests, bench) reads.

Loaded by path (``--config .../gunicorn_conf.py``), not as ``python:webapp...``: importing the package would import the
whole app in gunicorn's master, before gevent patches the standard library in the worker.

gevent's worker serves each connection on a greenlet, so an open live stream (webapp.api.events) costs a few KiB and no
thread; gevent patches sockets, threads and time before the app is imported, so pika, urllib3 (minio) and the upload
uploaders yield while they wait. psycopg2 (PostgreSQL under compose) waits in C and needs psycogreen to yield as well.
``LABQUEUE_WEB_WORKER_CLASS=gthread`` brings back thread workers (4 threads each).
"""

import os

worker_class = os.environ.get("LABQUEUE_WEB_WORKER_CLASS", "gevent")
if worker_class == "gevent":
    # Patched here, in the master, before ``--logger-class webapp.weblogging...`` imports the webapp package (and with
    # it ssl and urllib3): patched only in the worker, they would stay blocking, and gevent warns so in the log.
    from gevent import monkey

    monkey.patch_all()
workers = int(os.environ.get("LABQUEUE_WEB_WORKERS", "4"))
threads = 4 if worker_class == "gthread" else 1
worker_connections = int(os.environ.get("LABQUEUE_WEB_CONNECTIONS", "2000"))
timeout = 600
LIVE_START_SECONDS = 10.0  # how long a new worker waits for its live-updates subscription before it serves anyway


def post_fork(_server, _worker):
    """Make psycopg2 yield to other greenlets while PostgreSQL answers (SQLite calls are short and stay as they are)."""
    if worker_class == "gevent" and os.environ.get("LABQUEUE_DATABASE_URL", "").startswith("postgresql"):
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
