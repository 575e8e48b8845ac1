"""Logging in and out: Flask-Login sessions for the browser, bearer tokens for scripts.

A session carries its user's id and session generation (``<id>:<generation>``) and the time it began; it is good
while the generation matches the user's row and the session lifetime has not run out. Raising the generation
(logout, a password change or reset, disabling the user) ends every session of that user at once.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from flask import Blueprint, Request, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from storage.models import User
from webapp.accounts import AccountError, authenticate, create_user, end_sessions, user_for_token
from webapp.services import services
from webapp.throttle import note_failed_login, throttle

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."


@dataclass(frozen=True)
class CurrentUser(UserMixin):
    """The logged-in user as the web layer needs it; the database row stays in storage."""

    id: int
    name: str
    is_admin: bool
    via_token: bool = False
    generation: int = 0

    @classmethod
    def of(cls, user: User, via_token: bool = False) -> CurrentUser:
        return cls(id=user.id, name=user.name, is_admin=user.is_admin, via_token=via_token, generation=user.session_generation or 0)

    def get_id(self) -> str:
        return f"{self.id}:{self.generation}"


SESSION_ID = re.compile(r"(\d{1,18}):(\d{1,18})")


@login_manager.user_loader
def load_user(session_id: str) -> CurrentUser | None:
    """The session's user, unless the session ended: too old, or its generation is no longer the user's."""
    match = SESSION_ID.fullmatch(session_id)
    started = session.get("login_at")
    lifetime = services().config.session_hours * 3600
    if match is None or not isinstance(started, (int, float)) or not 0 <= time.time() - started <= lifetime:
        return None
    with services().db.session() as db_session:
        user = db_session.get(User, int(match.group(1)))
        if user is None or not user.is_active or (user.session_generation or 0) != int(match.group(2)):
            return None
        return CurrentUser.of(user)


@login_manager.request_loader
def load_user_from_token(req: Request) -> CurrentUser | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    metrics_token = services().config.metrics_token
    if metrics_token and hmac.compare_digest(token.strip().encode(), metrics_token.encode()):
        return None  # Prometheus' token names no user, and is no failed guess at one
    throttle().refuse_flooding_tokens()
    with services().db.session() as db_session:
        user = user_for_token(db_session, token.strip())
        current = CurrentUser.of(user, via_token=True) if user is not None else None
    if current is None:
        throttle().note_bad_token()
    return current


def start_session(user: CurrentUser) -> None:
    """Log the browser in; the session lasts LABQUEUE_SESSION_HOURS from now, however much it is used."""
    session.clear()
    session.permanent = True
    session["login_at"] = time.time()
    login_user(user)


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(LoginForm):
    password = PasswordField("Password (8 characters or more)", validators=[DataRequired(), Length(min=8, max=1024)])


# A path on this site: printable ASCII without spaces or backslashes (browsers read "/\\host" as another site),
# never "//host"; whatever else a link to a page holds is percent-encoded.
SAFE_NEXT = re.compile(r"/(?![/\\])[!-\[\]-~]*")


def _safe_next(target: str | None) -> str:
    """Only redirect within this site after logging in; anything else (other hosts, control characters) is ignored."""
    if target and SAFE_NEXT.fullmatch(target):
        return target
    return url_for("pages.results")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        with services().db.session() as db_session:
            user = authenticate(db_session, form.name.data, form.password.data)
            current = CurrentUser.of(user) if user is not None else None
        if current is None:
            note_failed_login()
            flash("Wrong user name or password.", "error")
        else:
            start_session(current)
            flash(f"Welcome, {current.name}.", "success")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form, registration=services().config.registration)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not services().config.registration:
        flash("Registration is closed; ask an admin for an account.", "error")
        return redirect(url_for("auth.login"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with services().db.session() as db_session:
                current = CurrentUser.of(create_user(db_session, form.name.data, form.password.data))
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            start_session(current)
            flash("Account created.", "success")
            return redirect(url_for("pages.upload"))
    return render_template("register.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End every session of this user, not only this browser's: a copy of the cookie is dead as well."""
    end_all_sessions()
    flash("Logged out.", "success")
    return redirect(url_for("auth.login"))


def end_all_sessions() -> None:
    with services().db.session() as db_session:
        user = db_session.get(User, current_user.id)
        if user is not None:
            end_sessions(user)
    logout_user()
    session.clear()


def metrics_token_matches() -> bool:
    """The request carries ``Authorization: Bearer $LABQUEUE_METRICS_TOKEN`` (Prometheus' token), and one is set."""
    expected = services().config.metrics_token
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def may_see_details() -> bool:
    """Prometheus' token, or a logged-in admin: who may see how busy the lab is and which machines serve it."""
    return metrics_token_matches() or (current_user.is_authenticated and current_user.is_admin)
