"""``python -m producer``: the outbox relay, the event recorder, the retention clean-up and the change announcer."""

from __future__ import annotations

import logging
import signal
import threading

from producer.announce import ChangeAnnouncer
from producer.config import BrokerConfig
from producer.housekeeping import run_retention
from producer.service import run_recorder, run_relay
from storage.config import StorageConfig
from storage.db import Database
from storage.limits import LimitDefaults
from storage.logsetup import configure_logging
from storage.objects import ObjectStore
from storage.retention import RetentionConfig

LOGGER = logging.getLogger("producer")


def main() -> None:
    configure_logging("producer")
    broker = BrokerConfig.from_env()
    storage = StorageConfig.from_env()
    db = Database(storage.database_url)
    db.upgrade()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    announcer = ChangeAnnouncer(broker)  # web processes hear of every job change the recorder or relay commits
    db.change_listeners.append(announcer.changed)
    announcer.start(stop)
    job_ended = threading.Event()  # the recorder wakes the relay: a held job is released as soon as a slot frees
    relay = threading.Thread(target=run_relay, args=(db, broker, LimitDefaults.from_env(), stop, job_ended), name="relay")
    relay.start()
    store = ObjectStore(storage)
    retention = threading.Thread(target=run_retention, args=(db, store, RetentionConfig.from_env(), stop), name="retention")
    retention.start()
    LOGGER.info("producer running: relay and recorder")
    run_recorder(db, broker, stop, job_ended)
    relay.join()
    retention.join()
    LOGGER.info("producer stopped")


if __name__ == "__main__":
    main()
