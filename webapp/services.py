"""The clients a web process holds: database, object store and publisher, built once in the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from producer.publisher import Publisher
from storage.db import Database
from storage.limits import LimitDefaults
from storage.objects import ObjectStore
from storage.retention import RetentionConfig
from webapp.config import WebConfig


@dataclass
class Services:
    db: Database
    store: ObjectStore
    publisher: Publisher
    config: WebConfig
    limits: LimitDefaults = field(default_factory=LimitDefaults)
    retention: RetentionConfig = field(default_factory=RetentionConfig)


def services() -> Services:
    return current_app.extensions["labqueue"]
