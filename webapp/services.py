"""The clients a web process holds: database, object store, publisher and live-updates hub, built once in the app
factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

from producer.publisher import Publisher
from storage.db import Database
from storage.limits import LimitDefaults
from storage.objects import ObjectStore
from storage.retention import RetentionConfig
from webapp.config import WebConfig

if TYPE_CHECKING:
    from webapp.live import LiveHub


@dataclass
class Services:
    db: Database
    store: ObjectStore
    publisher: Publisher
    config: WebConfig
    limits: LimitDefaults = field(default_factory=LimitDefaults)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    live: LiveHub | None = None


def services() -> Services:
    return current_app.extensions["labqueue"]
