"""The account page: API tokens for scripts and the command-line client, made, listed and revoked by their owner."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from storage.models import User
from webapp.accounts import create_token, list_tokens, revoke_token
from webapp.services import services

LOGGER = logging.getLogger(__name__)

bp = Blueprint("account", __name__, url_prefix="/account")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)], description="e.g. laptop, analysis-cluster")


class RevokeForm(FlaskForm):
    pass


def _page(form: TokenForm, new_token: str | None = None, status: int = 200):
    with services().db.session() as session:
        tokens = list_tokens(session, current_user.id)
    page = render_template("account.html", form=form, revoke_form=RevokeForm(), tokens=tokens, new_token=new_token)
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
