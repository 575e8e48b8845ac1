"""``python -m consumer --runtime python --slots 2``: run jobs of one runtime."""

from __future__ import annotations

import argparse
import signal
import threading

from consumer.config import ConsumerConfig
from consumer.disk import DiskUnavailable
from consumer.docker_client import docker_client
from consumer.runtimes import load_runtime
from consumer.service import ConsumerService
from producer.config import BrokerConfig
from storage.config import StorageConfig
from storage.logsetup import configure_logging
from storage.objects import ObjectStore


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m consumer", description=__doc__)
    parser.add_argument("--runtime", default="python", help="the runtime whose queue to take jobs from")
    parser.add_argument("--slots", type=int, default=1, help="jobs run at once (the prefetch count)")
    args = parser.parse_args(argv)
    configure_logging(f"consumer-{args.runtime}")
    config = ConsumerConfig.from_env(args.runtime, max(1, args.slots))
    service = ConsumerService(
        config=config,
        broker=BrokerConfig.from_env(),
        runtime=load_runtime(args.runtime),
        client=docker_client(config.slots),
        store=ObjectStore(StorageConfig.from_env()),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.run(stop)
    except DiskUnavailable as exc:
        raise SystemExit(f"consumer {config.name} not started: {exc}") from None


if __name__ == "__main__":
    main()
