"""The web app in process, as Flask's tutorial tests it: ``app.test_client()`` against a throwaway SQLite database.

No broker and no object store run: the app is built pointing at closed ports, so these tests cover only what answers
without them (authentication, the API's refusals, the schema, the pages); tests/integration covers the rest against
the real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage.db import Database
from webapp import create_app
from webapp.accounts import create_token, create_user

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: a test that needs a server fails loudly


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    for name in [name for name in os.environ if name.startswith("LABQUEUE_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "LABQUEUE_DATABASE_URL": f"sqlite:///{tmp_path / 'labqueue.sqlite'}",
        "LABQUEUE_BROKER_URL": f"amqp://{UNREACHABLE}/",
        "LABQUEUE_S3_ENDPOINT": UNREACHABLE,
        "LABQUEUE_S3_ACCESS_KEY": "unused",
        "LABQUEUE_S3_SECRET_KEY": "unused",
        "LABQUEUE_SECRET_KEY": "in-process-tests",
    }.items():
        monkeypatch.setenv(name, value)
    Database(os.environ["LABQUEUE_DATABASE_URL"]).upgrade()  # what `labqueue-admin migrate` does before a server starts
    yield create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(app: Flask) -> str:
    with app.extensions["labqueue"].db.session() as session:
        return create_token(session, create_user(session, "ada", "a long password"))
