"""Admin pages: the server at a glance (queues, consumers, running jobs, failures, history, usage) and the users.

Admins only: anyone else logged in gets 403, anyone not logged in the login page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from storage.retention import run_cleanup
from storage.units import human_bytes
from webapp.accounts import AccountError, create_user
from webapp.admin.chart import stacked_bars
from webapp.admin.data import consumers, elapsed_seconds, history, recent_failures, running_jobs, runtime_summaries
from webapp.admin.forms import ActionForm, CreateUserForm, LimitsForm, PasswordForm
from webapp.admin.queues import queue_depths
from webapp.admin.usage import usage_by_user
from webapp.admin.users import generated_password, get_user, reset_password, set_active, set_admin, set_limits, user_rows
from webapp.auth import login_manager
from webapp.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Chart spans: (span, bucket).
RANGES = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
DEFAULT_USAGE_DAYS = 30
USER_ACTIONS = {
    "enable": lambda s, uid, me: set_active(s, uid, True, me),
    "disable": lambda s, uid, me: set_active(s, uid, False, me),
    "grant-admin": lambda s, uid, me: set_admin(s, uid, True, me),
    "revoke-admin": lambda s, uid, me: set_admin(s, uid, False, me),
}


@bp.before_request
def require_admin():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, description="This page is for admins.")
    return None


def _since(raw: str | None) -> datetime:
    """The start of the usage period: a date (YYYY-MM-DD, UTC) or the last 30 days."""
    if raw:
        try:
            return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            flash(f"{raw!r} is not a date like 2026-01-31; showing the last {DEFAULT_USAGE_DAYS} days.", "error")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DEFAULT_USAGE_DAYS)


def _require_form(form: ActionForm) -> None:
    if not form.validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")


@bp.get("/")
def index():
    range_name = request.args.get("range", "24h") if request.args.get("range") in RANGES else "24h"
    since = _since(request.args.get("since"))
    config = services().publisher.config
    depths = queue_depths(config)
    with services().db.session() as session:
        summaries = runtime_summaries(session, config.runtimes, depths)
        consumer_rows = consumers(session)
        running = running_jobs(session)
        failures = recent_failures(session)
        chart = stacked_bars(history(session, *RANGES[range_name]))
        usage = usage_by_user(session, since)
    return render_template(
        "admin/index.html",
        summaries=summaries,
        consumers=consumer_rows,
        running=running,
        elapsed=elapsed_seconds,
        failures=failures,
        chart=chart,
        range_name=range_name,
        ranges=list(RANGES),
        usage=usage,
        since=since,
        broker_down=all(depth is None for depth in depths.values()),
        retention=services().retention,
        cleanup_form=ActionForm(),
    )


@bp.post("/cleanup")
def cleanup():
    _require_form(ActionForm())
    retention = services().retention
    if retention.max_age is None:
        flash("Retention is off (LABQUEUE_RETENTION_DAYS=0): job files are kept.", "error")
        return redirect(url_for("admin.index"))
    report = run_cleanup(services().db, services().store, retention)
    freed = human_bytes(report.output_bytes_freed + report.input_bytes_freed) or "0 B"
    flash(f"Clean-up: {report.expired} job(s) expired, {report.objects_removed} object(s) removed, {freed} freed.", "success")
    if report.error:
        flash(f"The clean-up stopped early: {report.error}", "error")
    return redirect(url_for("admin.index"))


def _users_page(form: CreateUserForm, new_password: tuple[str, str] | None = None, status: int = 200):
    with services().db.session() as session:
        rows = user_rows(session, services().limits)
    page = render_template("admin/users.html", rows=rows, form=form, new_password=new_password, defaults=services().limits)
    return page, status


@bp.get("/users")
def users():
    return _users_page(CreateUserForm())


@bp.post("/users")
def create():
    form = CreateUserForm()
    if not form.validate_on_submit():
        for field, messages in form.errors.items():
            flash(f"{form[field].label.text}: {', '.join(messages)}", "error")
        return _users_page(form, status=422)
    password = form.password.data or generated_password()
    try:
        with services().db.session() as session:
            create_user(session, form.name.data.strip(), password, is_admin=form.admin.data)
    except AccountError as exc:
        flash(str(exc), "error")
        return _users_page(form, status=422)
    flash(f"Created {'admin' if form.admin.data else 'user'} {form.name.data}.", "success")
    shown = (form.name.data, password) if not form.password.data else None
    return _users_page(CreateUserForm(formdata=None), shown)


def _user_page(user_id: int, new_password: str | None = None, status: int = 200):
    with services().db.session() as session:
        user = get_user(session, user_id)
        limits_form = LimitsForm(
            formdata=None,
            max_queued=user.max_queued,
            max_running=user.max_running,
            output_quota_gib=None if user.output_quota_bytes is None else user.output_quota_bytes / 2**30,
        )
    return render_template(
        "admin/user.html",
        user=user,
        limits_form=limits_form,
        password_form=PasswordForm(formdata=None),
        action_form=ActionForm(formdata=None),
        defaults=services().limits,
        new_password=new_password,
    ), status


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    try:
        return _user_page(user_id)
    except AccountError:
        abort(404, description="no such user")


@bp.post("/users/<int:user_id>/<action>")
def user_action(user_id: int, action: str):
    change = USER_ACTIONS.get(action)
    if change is None:
        abort(404, description="no such action")
    _require_form(ActionForm())
    try:
        with services().db.session() as session:
            changed = change(session, user_id, current_user.id)
            flash(f"{changed.name}: {action.replace('-', ' ')} done.", "success")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
def password(user_id: int):
    form = PasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(m for messages in form.errors.values() for m in messages), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    try:
        with services().db.session() as session:
            changed, new = reset_password(session, user_id, form.password.data or None)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    flash(f"{changed.name}'s password is changed.", "success")
    return _user_page(user_id, new_password=None if form.password.data else new)


@bp.post("/users/<int:user_id>/limits")
def limits(user_id: int):
    form = LimitsForm()
    if not form.validate_on_submit():
        flash("; ".join(f"{form[f].label.text}: {', '.join(m)}" for f, m in form.errors.items()), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    quota = None if form.output_quota_gib.data is None else float(form.output_quota_gib.data)
    try:
        with services().db.session() as session:
            changed = set_limits(session, user_id, form.max_queued.data, form.max_running.data, quota)
            flash(f"{changed.name}'s limits are saved.", "success")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.user", user_id=user_id))
