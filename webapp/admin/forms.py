"""The admin pages' forms; every one carries the CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class ActionForm(FlaskForm):
    """A button that changes one thing (enable, make admin, clean up): only the CSRF token is posted."""


class CreateUserForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(min=2, max=64)])
    password = PasswordField("Password", validators=[Optional(), Length(min=8, max=1024)], description="empty: generate one")
    admin = BooleanField("Admin")


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[Optional(), Length(min=8, max=1024)], description="empty: generate one")


class LimitsForm(FlaskForm):
    """Empty fields mean the server's default; 0 means no limit."""

    max_queued = IntegerField("Most jobs waiting", validators=[Optional(), NumberRange(min=0)])
    max_running = IntegerField("Most jobs running", validators=[Optional(), NumberRange(min=0)])
    output_quota_gib = DecimalField("Output quota (GiB)", places=None, validators=[Optional(), NumberRange(min=0)])
