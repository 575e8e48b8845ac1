"""Users and API tokens: hashed passwords, tokens shown once and stored as SHA-256."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from storage.models import ApiToken, User, utcnow

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
TOKEN_PREFIX = "lq_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
MIN_PASSWORD = 8


T = TypeVar("T")


def _off_the_loop(function: Callable[..., T], *args: str) -> T:
    """Run a password hash on a real thread when gevent serves the web (gunicorn_conf patches the master).

    A hash is deliberately slow (scrypt: ~0.1 s of CPU, seconds on a busy machine) and releases the GIL, but in a
    gevent worker it would still freeze every other connection of that worker, open live streams among them, for
    as long as it runs; on gevent's thread pool only the greenlet that asked waits."""
    if "gevent" in sys.modules:
        from gevent import get_hub, monkey

        if monkey.is_module_patched("threading"):
            return get_hub().threadpool.apply(function, args)
    return function(*args)


def hash_password(password: str) -> str:
    return _off_the_loop(generate_password_hash, password)


def password_matches(password_hash: str, password: str) -> bool:
    return _off_the_loop(check_password_hash, password_hash, password)


class AccountError(ValueError):
    """A user or token request that cannot be granted; the message says why."""


def create_user(session: Session, name: str, password: str, is_admin: bool = False) -> User:
    if not USERNAME.match(name):
        raise AccountError("a user name is 2-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise AccountError(f"user {name!r} exists already")
    user = User(name=name, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, made as real ones are: checking it costs what checking a user's costs."""
    return hash_password(secrets.token_urlsafe(32))


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user, if the name and password match an active account. Every answer costs one password check, so
    the time it takes does not tell which user names exist."""
    user = session.scalar(select(User).where(User.name == name))
    matches = password_matches(user.password_hash if user is not None else dummy_hash(), password)
    if user is None or not matches or not user.is_active:
        return None
    return user


def end_sessions(user: User) -> None:
    """End every browser session of the user at once: each carries the generation it started in."""
    user.session_generation = (user.session_generation or 0) + 1


def change_password(session: Session, user_id: int, old: str, new: str) -> User:
    """The user's own change: the old password first; every session of theirs ends."""
    user = session.get(User, user_id)
    if user is None or not password_matches(user.password_hash, old):
        raise AccountError("the current password is wrong")
    if len(new) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    user.password_hash = hash_password(new)
    end_sessions(user)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "api") -> str:
    """Create a token and return it; this is the only time it can be seen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name.strip()[:100] or "api", token_hash=_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None)))
    if record is None or not record.user.is_active:
        return None
    now = utcnow()
    # Recorded to the minute at most: a write on every request would serialise API calls on the database.
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
    return record.user


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included so they can tell what stopped working."""
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, user_id: int, token_id: int) -> ApiToken | None:
    """Revoke one of the user's own tokens at once; None when they have no such token."""
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        return None
    if record.revoked_at is None:
        record.revoked_at = utcnow()
    return record
