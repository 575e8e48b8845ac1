"""Logging in and out: Flask-Login sessions for the browser, bearer tokens for scripts."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Request, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from storage.models import User
from webapp.accounts import AccountError, authenticate, create_user, user_for_token
from webapp.services import services

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

    @classmethod
    def of(cls, user: User, via_token: bool = False) -> CurrentUser:
        return cls(id=user.id, name=user.name, is_admin=user.is_admin, via_token=via_token)


@login_manager.user_loader
def load_user(user_id: str) -> CurrentUser | None:
    with services().db.session() as session:
        user = session.get(User, int(user_id))
        return CurrentUser.of(user) if user is not None and user.is_active else None


@login_manager.request_loader
def load_user_from_token(req: Request) -> CurrentUser | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with services().db.session() as session:
        user = user_for_token(session, token.strip())
        return CurrentUser.of(user, via_token=True) if user is not None else None


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(LoginForm):
    password = PasswordField("Password (8 characters or more)", validators=[DataRequired(), Length(min=8, max=1024)])


def _safe_next(target: str | None) -> str:
    """Only redirect within this site after logging in."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.results")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        with services().db.session() as session:
            user = authenticate(session, form.name.data, form.password.data)
            current = CurrentUser.of(user) if user is not None else None
        if current is None:
            flash("Wrong user name or password.", "error")
        else:
            login_user(current)
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
            with services().db.session() as session:
                current = CurrentUser.of(create_user(session, form.name.data, form.password.data))
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            login_user(current)
            flash("Account created.", "success")
            return redirect(url_for("pages.upload"))
    return render_template("register.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("Logged out.", "success")
    return redirect(url_for("auth.login"))
