"""``python -m producer``: the outbox relay, the event recorder, the retention clean-up and the change announcer."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading

from producer.announce import ChangeAnnouncer
from producer.config import BrokerConfig
from producer.housekeeping import run_retention
from producer.service import run_recorder, run_relay
from producer.supervise import run_parts
from storage.config import StorageConfig
from storage.db import Database, SchemaOutOfDate
from storage.limits import LimitDefaults
from storage.logsetup import configure_logging
from storage.objects import ObjectStore
from storage.retention import RetentionConfig

LOGGER = logging.getLogger("producer")


def main() -> int:
    configure_logging("producer")
    broker = BrokerConfig.from_env()
    storage = StorageConfig.from_env()
    try:
        db = Database(storage.database_url).require_current()
    except SchemaOutOfDate as exc:
        raise SystemExit(f"producer not started: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    announcer = ChangeAnnouncer(broker)  # web processes hear of every job change the recorder or relay commits
    db.change_listeners.append(announcer.changed)
    announcer.start(stop)
    job_ended = threading.Event()  # the recorder wakes the relay: a held job is released as soon as a slot frees
    parts = {
        "relay": functools.partial(run_relay, db, broker, LimitDefaults.from_env(), stop, job_ended),
        "recorder": functools.partial(run_recorder, db, broker, stop, job_ended),
        "retention": functools.partial(run_retention, db, ObjectStore(storage), RetentionConfig.from_env(), stop),
    }
    LOGGER.info("producer running: relay and recorder")
    status = run_parts(parts, stop)
    LOGGER.info("producer stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
