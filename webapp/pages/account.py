"""The account page: API tokens for scripts and the command-line client, made, listed and revoked by their owner;
the password, changed with the old one; and "log out everywhere"."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from storage.models import User
from webapp.accounts import MIN_PASSWORD, AccountError, change_password, create_token, list_tokens, revoke_token
from webapp.auth import CurrentUser, end_all_sessions, start_session
from webapp.services import services

LOGGER = logging.getLogger(__name__)

bp = Blueprint("account", __name__, url_prefix="/account")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)], description="e.g. laptop, analysis-cluster")


class RevokeForm(FlaskForm):
    pass


class ChangePasswordForm(FlaskForm):
    old = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField(f"New password ({MIN_PASSWORD} characters or more)", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)])
    again = PasswordField("New password again", validators=[DataRequired(), EqualTo("new", message="the new passwords differ")])


def _page(form: TokenForm, new_token: str | None = None, status: int = 200, password_form: ChangePasswordForm | None = None):
    with services().db.session() as session:
        tokens = list_tokens(session, current_user.id)
    page = render_template(
        "pages/account.html",
        form=form,
        revoke_form=RevokeForm(),
        password_form=password_form or ChangePasswordForm(formdata=None),
        tokens=tokens,
        new_token=new_token,
        session_hours=services().config.session_hours,
    )
    # The page may hold a token that is shown only this once: keep it out of every cache.
    return page, status, {"Cache-Control": "no-store"}


@bp.get("")
@login_required
def index():
    return _page(TokenForm())


@bp.post("/tokens")
@login_required
def new_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    with services().db.session() as session:
        token = create_token(session, session.get(User, current_user.id), form.name.data)
    LOGGER.info("user %s created API token %r", current_user.name, form.name.data)
    flash(f"Token {form.name.data.strip()!r} created. Copy it now: it is not shown again.", "success")
    return _page(TokenForm(formdata=None), new_token=token, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and try again")
    with services().db.session() as session:
        record = revoke_token(session, current_user.id, token_id)
        name = record.name if record is not None else None
    if name is None:
        abort(404, description="no such token")
    LOGGER.info("user %s revoked API token %r", current_user.name, name)
    flash(f"Token {name!r} revoked; scripts using it now get 401.", "success")
    return redirect(url_for("account.index"))


@bp.post("/password")
@login_required
def password():
    """Change one's own password: every session ends, and this browser starts a new one."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            flash("; ".join(messages), "error")
        return _page(TokenForm(formdata=None), status=400, password_form=form)
    try:
        with services().db.session() as session:
            user = change_password(session, current_user.id, form.old.data, form.new.data)
            current = CurrentUser.of(user)
    except AccountError as exc:
        flash(str(exc), "error")
        return _page(TokenForm(formdata=None), status=400, password_form=form)
    start_session(current)
    LOGGER.info("user %s changed their password; their other sessions ended", current.name)
    flash("Password changed. Every other browser logged in as you is logged out.", "success")
    return redirect(url_for("account.index"))


@bp.post("/sessions/end")
@login_required
def end_sessions():
    """Log out everywhere: every browser session of this user ends, this one too (API tokens stay)."""
    if not RevokeForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and try again")
    LOGGER.info("user %s logged out everywhere", current_user.name)
    end_all_sessions()
    flash("Logged out everywhere. API tokens still work; revoke them on the account page.", "success")
    return redirect(url_for("auth.login"))
