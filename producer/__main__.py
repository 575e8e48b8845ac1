"""``python -m producer``: the outbox relay and the event recorder."""

from __future__ import annotations

import logging
import signal
import threading

from producer.config import BrokerConfig
from producer.service import run_recorder, run_relay
from storage.config import StorageConfig
from storage.db import Database

LOGGER = logging.getLogger("producer")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    broker = BrokerConfig.from_env()
    db = Database(StorageConfig.from_env().database_url)
    db.upgrade()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    relay = threading.Thread(target=run_relay, args=(db, broker, stop), name="relay")
    relay.start()
    LOGGER.info("producer running: relay and recorder")
    run_recorder(db, broker, stop)
    relay.join()
    LOGGER.info("producer stopped")


if __name__ == "__main__":
    main()
