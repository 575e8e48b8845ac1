"""The web app: pages for researchers, the REST API for scripts."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from producer.config import BrokerConfig
from producer.publisher import Publisher
from storage.config import StorageConfig
from storage.db import Database
from storage.limits import LimitDefaults
from storage.objects import ObjectStore
from storage.retention import RetentionConfig
from webapp import auth, datasets, security, weblogging
from webapp.accounts import dummy_hash
from webapp.admin import metrics
from webapp.admin import views as admin
from webapp.api import datasets as datasets_api
from webapp.api import routes as api
from webapp.config import WebConfig
from webapp.live import LiveHub
from webapp.pages import account
from webapp.pages import datasets as dataset_pages
from webapp.pages import jobs as pages
from webapp.services import Services
from webapp.throttle import Throttle
from webapp.uploads import LabqueueRequest

LOGGER = logging.getLogger(__name__)

# After the broker refused a connection, uploads skip the fast path this long; the producer's relay publishes them.
PUBLISH_COOLDOWN_SECONDS = 5.0


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; ``test_config`` may pass ready-made settings objects and Flask options."""
    app = Flask(__name__)
    app.request_class = LabqueueRequest
    overrides = dict(test_config or {})
    web = overrides.pop("WEB_CONFIG", None) or WebConfig.from_env()
    storage = overrides.pop("STORAGE_CONFIG", None) or StorageConfig.from_env()
    broker = overrides.pop("BROKER_CONFIG", None) or BrokerConfig.from_env()
    limits = overrides.pop("LIMIT_DEFAULTS", None) or LimitDefaults.from_env()
    retention = overrides.pop("RETENTION_CONFIG", None) or RetentionConfig.from_env()
    app.config.from_mapping(
        SECRET_KEY=web.secret_key,
        # Bodies larger than this are refused with 413 before they are read.
        MAX_CONTENT_LENGTH=web.max_upload_bytes + 2**20,
        MAX_FORM_MEMORY_SIZE=2**20,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=web.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web.session_hours),
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(overrides)
    weblogging.init_app(app)

    db = Database(storage.database_url).require_current()  # migrating is `labqueue-admin migrate`'s job, never the app's
    store = ObjectStore(storage)
    live = LiveHub(db, store, broker, web.streams_per_user)
    db.change_listeners.append(live.changed)
    app.extensions["labqueue"] = Services(
        db=db,
        store=store,
        publisher=Publisher(broker, cooldown=PUBLISH_COOLDOWN_SECONDS),
        config=web,
        limits=limits,
        retention=retention,
        live=live,
    )

    auth.login_manager.init_app(app)
    datasets.init_app(app)
    api.csrf.init_app(app)
    api.csrf.exempt(api.bp)
    api.csrf.exempt(datasets_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(datasets_api.bp)
    app.register_blueprint(dataset_pages.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(metrics.bp)
    security.init_app(app, web)
    Throttle(app, db, web)
    dummy_hash()  # made now, so the first login with an unknown name takes no longer than any other

    @app.errorhandler(413)
    def too_large(_exc: Exception):
        message = f"the upload is larger than the limit of {web.max_upload_bytes // 2**20} MiB"
        if request.path.startswith("/api/"):
            return jsonify(error="too_large", message=message), 413
        return render_template("error.html", message=message), 413

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """JSON under /api/ (also for URLs no view matched), the site's own error page elsewhere."""
        if request.path.startswith("/api/"):
            return api.http_error(exc)
        return render_template("error.html", message=exc.description, title=exc.name), exc.code or 500

    return app
