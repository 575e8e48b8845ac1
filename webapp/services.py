"""The clients a web process holds: database, object store and publisher, built once in the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from producer.publisher import Publisher
from storage.db import Database
from storage.objects import ObjectStore
from webapp.config import WebConfig


@dataclass
class Services:
    db: Database
    store: ObjectStore
    publisher: Publisher
    config: WebConfig


def services() -> Services:
    return current_app.extensions["labqueue"]
