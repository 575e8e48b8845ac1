"""Throttling with Flask-Limiter: failed logins per client address and per account name, requests with a wrong
bearer token per address. Counters live in the database (storage.ratelimits), so every web process counts the same.

Only failures count. The per-account limit is a rate, never a lockout: once its window has passed the owner gets in
again, however long a stranger keeps guessing, and a stranger's address being throttled stops nobody else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many

import storage.ratelimits  # also registers the labqueue+db storage scheme with the limits library
from storage.db import Database
from webapp.config import WebConfig

EXTENSION = "labqueue.throttle"
LOGIN_ENDPOINT = "auth.login"


def client_address() -> str:
    """The client's address as the WSGI server saw it; behind a configured proxy, as ProxyFix corrected it."""
    return request.remote_addr or "unknown"


def account_name() -> str:
    return "account:" + (request.form.get("name") or "").strip().lower()[:64]


def login_failed(_response: object) -> bool:
    """A login attempt whose password was checked and wrong; a form that never got that far costs nothing."""
    return bool(g.get("login_failed"))


def note_failed_login() -> None:
    g.login_failed = True


class Throttle:
    """This app's limiter and the limits it enforces by hand (bearer tokens are checked before any view runs)."""

    def __init__(self, app: Flask, db: Database, config: WebConfig) -> None:
        self.limiter = Limiter(
            client_address,
            storage_uri=f"{storage.ratelimits.SCHEME}://",
            storage_options={"database": db},  # type: ignore[dict-item]  # Flask-Limiter types the options str/int; it passes any object on to the storage
            strategy="fixed-window",
            headers_enabled=True,
            key_prefix="labqueue",
        )
        self.limiter.init_app(app)
        self.bad_token_limits: list[RateLimitItem] = parse_many(config.bad_token_rate_per_address)
        message = "Too many failed logins; wait a little and try again."
        # A sync or async view: Flask types the two as a union, which the limiter's decorator typing does not keep.
        view: Callable[..., Any] = app.view_functions[LOGIN_ENDPOINT]
        for rate, key in ((config.login_rate_per_address, client_address), (config.login_rate_per_account, account_name)):
            view = self.limiter.limit(
                rate,
                key_func=key,
                methods=["POST"],
                deduct_when=login_failed,
                error_message=message,
            )(view)
        app.view_functions[LOGIN_ENDPOINT] = view
        app.extensions[EXTENSION] = self

    def refuse_flooding_tokens(self) -> None:
        """429 for an address that sent too many wrong bearer tokens lately, before its next one is even looked up."""
        strategy, address = self.limiter.limiter, client_address()
        for item in self.bad_token_limits:
            if not strategy.test(item, "bad-token", address):
                reset_at, _remaining = strategy.get_window_stats(item, "bad-token", address)
                response = jsonify(error="too_many_requests", message="too many requests with a wrong token; wait and try again")
                response.status_code = 429
                response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
                abort(response)

    def note_bad_token(self) -> None:
        for item in self.bad_token_limits:
            self.limiter.limiter.hit(item, "bad-token", client_address())


def throttle() -> Throttle:
    return current_app.extensions[EXTENSION]
