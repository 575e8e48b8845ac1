"""The producer's scheduled clean-up: finished jobs' files past the retention age are removed, hourly by default."""

from __future__ import annotations

import logging
import threading

from storage.db import Database
from storage.objects import ObjectStore
from storage.retention import RetentionConfig, run_cleanup

LOGGER = logging.getLogger(__name__)


def run_retention(db: Database, store: ObjectStore, config: RetentionConfig, stop: threading.Event) -> None:
    """Run a clean-up pass now and then every ``config.interval_seconds`` until ``stop`` is set."""
    if config.max_age is None:
        LOGGER.info("retention is off (LABQUEUE_RETENTION_DAYS=0): job files are kept")
        return
    LOGGER.info("retention: job files are removed %g days after the job ended", config.days)
    while not stop.is_set():
        try:
            report = run_cleanup(db, store, config)
        except Exception:
            LOGGER.exception("retention pass failed; retrying at the next interval")
        else:
            if report.expired or report.error:
                LOGGER.info("retention expired %d job(s), removed %d object(s)%s", report.expired, report.objects_removed,
                            f"; stopped early: {report.error}" if report.error else "")
        stop.wait(config.interval_seconds)
