"""The demo dataset a fresh install ships, so the first job has sensor data to read: ``labqueue-admin seed-demo``.

One day of per-minute readings from a few machines, each following a daily
cycle plus noise; a fixed seed makes every install's copy the same.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from typing import TextIO

from storage.archive import ArchiveLimits
from storage.config import StorageConfig
from storage.dataset_uploads import UploadPart, create_version
from storage.datasets import Actor, DatasetError, get_dataset
from storage.db import Database
from storage.objects import ObjectStore, ObjectStoreError
from storage.readings import HEADER, READINGS_FILE

DEMO_NAME = "demo-sensors"
DEMO_DESCRIPTION = "Generated demo: one day of per-minute readings (°C) from four machines, a daily cycle plus noise."
SEED = 20240301
DAY = datetime(2024, 3, 1, tzinfo=UTC)
MINUTES = 24 * 60
# equipment id, mean, amplitude of the daily cycle, noise (standard deviation)
EQUIPMENT = (("pump-1", 61.0, 6.0, 0.8), ("pump-2", 58.5, 5.0, 0.6), ("compressor-1", 74.0, 11.0, 1.5), ("fan-3", 36.0, 3.5, 0.4))
SYSTEM = Actor(id=None, name="labqueue", is_admin=True)


def write_readings(out: TextIO) -> None:
    """The demo's readings.csv: coolest at 04:00, warmest at 16:00."""
    rng = random.Random(SEED)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for minute in range(MINUTES):
        moment = (DAY + timedelta(minutes=minute)).isoformat()
        cycle = math.sin(2 * math.pi * (minute - 10 * 60) / MINUTES)
        for equipment, mean, amplitude, noise in EQUIPMENT:
            writer.writerow([equipment, moment, f"{mean + amplitude * cycle + rng.gauss(0, noise):.3f}"])


def seed_demo(db: Database, store: ObjectStore) -> int | None:
    """Create the demo dataset unless it exists; the new version's number, or None when there was nothing to do."""
    with db.session() as session:
        if get_dataset(session, DEMO_NAME) is not None:
            return None
    with tempfile.TemporaryFile() as readings:
        text = io.TextIOWrapper(readings, encoding="utf-8", newline="")
        write_readings(text)
        text.flush()
        text.detach()
        readings.seek(0)
        part = UploadPart(READINGS_FILE, readings)
        return create_version(db, store, SYSTEM, DEMO_NAME, DEMO_DESCRIPTION, [part], ArchiveLimits()).version


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    db = Database(StorageConfig.from_env().database_url).require_current()
    store = ObjectStore(StorageConfig.from_env())
    try:
        store.ensure_bucket()
        version = seed_demo(db, store)
    except (DatasetError, ObjectStoreError) as exc:
        print(f"labqueue: the demo dataset was not created: {exc}", file=sys.stderr)
        return 1
    if version is not None:
        print(f"created the demo dataset {DEMO_NAME}@{version}", file=sys.stderr)
    return 0
