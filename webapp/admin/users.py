"""What admins change about users: enabled or not, admin or not, password, fair-use limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.limits import GIB, LimitDefaults, UserLimits, active_count, limits_of, queued_count, stored_output_bytes
from storage.models import User
from webapp.accounts import MIN_PASSWORD, AccountError, end_sessions, hash_password


def generated_password() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class UserRow:
    """A user as the users page lists them: the account, their effective limits and what they use of them."""

    user: User
    limits: UserLimits
    queued: int
    active: int
    stored_bytes: int


def user_rows(session: Session, defaults: LimitDefaults) -> list[UserRow]:
    rows = []
    for user in session.scalars(select(User).order_by(User.name)):
        usage = (queued_count(session, user.id), active_count(session, user.id), stored_output_bytes(session, user.id))
        rows.append(UserRow(user, limits_of(user, defaults), *usage))
    return rows


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("no such user")
    return user


def set_active(session: Session, user_id: int, active: bool, acting_id: int) -> User:
    """Enable or disable an account; a disabled user can neither log in nor use their tokens, and is logged out."""
    if user_id == acting_id and not active:
        raise AccountError("you cannot disable your own account")
    user = get_user(session, user_id)
    user.is_active = active
    if not active:
        end_sessions(user)
    return user


def set_admin(session: Session, user_id: int, admin: bool, acting_id: int) -> User:
    if user_id == acting_id and not admin:
        raise AccountError("you cannot take away your own admin role")
    user = get_user(session, user_id)
    user.is_admin = admin
    return user


def reset_password(session: Session, user_id: int, password: str | None) -> tuple[User, str]:
    """Set a new password, generated when none is given; returns it so it can be shown once. Every session of the
    user ends: whoever held one may have been the reason for the reset."""
    password = password or generated_password()
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    user = get_user(session, user_id)
    user.password_hash = hash_password(password)
    end_sessions(user)
    return user, password


def set_limits(session: Session, user_id: int, max_queued: int | None, max_running: int | None, quota_gib: float | None) -> User:
    """Set the user's own limits; None puts a limit back to the server's default, 0 means no limit."""
    if any(value is not None and value < 0 for value in (max_queued, max_running, quota_gib)):
        raise AccountError("limits are 0 (no limit) or more")
    user = get_user(session, user_id)
    user.max_queued, user.max_running = max_queued, max_running
    user.output_quota_bytes = None if quota_gib is None else int(quota_gib * GIB)
    return user
