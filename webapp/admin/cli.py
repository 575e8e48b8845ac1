"""``labqueue-admin``: the server's own commands, run where its database and object store are reachable (never on a
researcher's laptop, whose ``labqueue`` command speaks only HTTP): accounts and tokens, migrating, the demo
dataset, usage, clean-up and fair-use limits."""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from storage.config import StorageConfig, database_url
from storage.db import Database, SchemaOutOfDate
from storage.limits import GIB
from storage.models import User
from storage.objects import ObjectStore, ObjectStoreError
from storage.retention import RetentionConfig, run_cleanup
from storage.units import human_bytes
from webapp.accounts import AccountError, create_token, create_user
from webapp.admin.demo import cmd_seed_demo
from webapp.admin.usage import usage_by_user
from webapp.admin.users import set_limits
from webapp.formatting import human_seconds

KEEP = object()  # a limit option not given: the user's current value stays
COLUMNS = ("user", "jobs", "succeeded", "failed", "run time", "CPU time", "mean wait", "peak memory", "outputs")


def _database() -> Database:
    return Database(database_url()).require_current()


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (then it must be shown)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise AccountError("the passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def cmd_create_user(args: argparse.Namespace) -> int:
    password, generated = _read_password(args)
    with _database().session() as session:
        create_user(session, args.name, password, is_admin=args.admin)
    print(f"created {'admin' if args.admin else 'user'} {args.name}", file=sys.stderr)
    if generated:
        print(f"password: {password}", file=sys.stderr)
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    with _database().session() as session:
        user = session.scalar(select(User).where(User.name == args.name))
        if user is None:
            raise AccountError(f"no user {args.name!r}")
        token = create_token(session, user, args.token_name)
    print(token)
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    """Bring the schema to the newest migration and make the bucket: once, before the services start, so that
    web workers and the producer do not race each other on the same migration. The only place that migrates: every
    other process refuses a schema that is not current."""
    Database(database_url()).upgrade()
    try:
        ObjectStore(StorageConfig.from_env()).ensure_bucket()
    except ObjectStoreError as exc:
        print(f"labqueue-admin: the bucket is not ready: {exc}", file=sys.stderr)
        return 1
    print("database migrated, bucket ready", file=sys.stderr)
    return 0


def cmd_ensure_admin(args: argparse.Namespace) -> int:
    """Create an admin named ``admin`` when there is no admin at all; its password goes to a file only root reads."""
    with _database().session() as session:
        if session.scalar(select(User).where(User.is_admin.is_(True))) is not None:
            return 0
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, is_admin=True)
    path = Path(args.password_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    print(f"created admin 'admin'; password in {path}", file=sys.stderr)
    return 0


def _date(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date like 2026-01-31") from None


def cmd_usage(args: argparse.Namespace) -> int:
    since = args.since or datetime.now(UTC) - timedelta(days=30)
    with _database().session() as session:
        rows = usage_by_user(session, since, args.until)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return 0
    table = [COLUMNS] + [
        (
            row.user,
            str(row.jobs),
            str(row.succeeded),
            str(row.failed),
            human_seconds(row.wall_seconds),
            human_seconds(row.cpu_seconds),
            human_seconds(row.mean_wait_seconds),
            human_bytes(row.peak_memory_bytes),
            human_bytes(row.output_bytes),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    period = f"jobs submitted from {since:%Y-%m-%d %H:%M} UTC" + (f" until {args.until:%Y-%m-%d}" if args.until else "")
    print(period, file=sys.stderr)
    for line in table:
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells).rstrip())
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    config = RetentionConfig.from_env()
    if args.days is not None:
        config = RetentionConfig(days=args.days, interval_seconds=config.interval_seconds)
    if config.max_age is None:
        print("retention is off (LABQUEUE_RETENTION_DAYS=0); pass --days N to clean up anyway", file=sys.stderr)
        return 1
    report = run_cleanup(_database(), ObjectStore(StorageConfig.from_env()), config)
    freed = human_bytes(report.output_bytes_freed + report.input_bytes_freed) or "0 B"
    print(f"expired {report.expired} job(s) older than {config.days:g} days: {report.objects_removed} object(s), {freed}")
    if report.error:
        print(f"labqueue-admin: stopped early: {report.error}", file=sys.stderr)
        return 1
    return 0


def _limit(raw: str) -> int | None:
    return None if raw == "default" else int(raw)


def _quota(raw: str) -> float | None:
    return None if raw == "default" else float(raw)


def cmd_set_limits(args: argparse.Namespace) -> int:
    with _database().session() as session:
        user = session.scalar(select(User).where(User.name == args.name))
        if user is None:
            raise AccountError(f"no user {args.name!r}")
        quota_gib = None if user.output_quota_bytes is None else user.output_quota_bytes / GIB
        set_limits(
            session,
            user.id,
            user.max_queued if args.max_queued is KEEP else args.max_queued,
            user.max_running if args.max_running is KEEP else args.max_running,
            quota_gib if args.output_quota_gib is KEEP else args.output_quota_gib,
        )
    print(f"limits of {args.name} saved", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labqueue-admin", description="the server's accounts, schema, demo data, usage and limits")
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("create-user", help="create a user (password asked, read with --password-stdin, or generated)")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true", help="make the user an admin")
    user.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    user.set_defaults(handler=cmd_create_user)
    token = commands.add_parser("create-token", help="create an API token for a user; the token is printed on its own line")
    token.add_argument("name")
    token.add_argument("--token-name", default="cli", help="a label to recognise the token by")
    token.set_defaults(handler=cmd_create_token)
    admin = commands.add_parser("ensure-admin", help="create an admin account if there is none")
    admin.add_argument("--password-file", default="var/admin-password")
    admin.set_defaults(handler=cmd_ensure_admin)
    migrate = commands.add_parser("migrate", help="migrate the database to the newest schema and create the bucket if missing")
    migrate.set_defaults(handler=cmd_migrate)
    demo = commands.add_parser("seed-demo", help="create the demo dataset demo-sensors unless it exists")
    demo.set_defaults(handler=cmd_seed_demo)
    usage = commands.add_parser("usage", help="per-user totals of jobs, run time, CPU time, waits, memory and outputs")
    usage.add_argument("--since", type=_date, help="first day (YYYY-MM-DD, UTC); default: 30 days ago")
    usage.add_argument("--until", type=_date, help="day after the last (YYYY-MM-DD, UTC)")
    usage.add_argument("--json", action="store_true", help="as JSON, seconds and bytes unformatted")
    usage.set_defaults(handler=cmd_usage)
    cleanup = commands.add_parser("cleanup", help="remove the files of jobs that ended more than LABQUEUE_RETENTION_DAYS ago")
    cleanup.add_argument("--days", type=float, help="this age instead of LABQUEUE_RETENTION_DAYS")
    cleanup.set_defaults(handler=cmd_cleanup)
    limits = commands.add_parser("set-limits", help="set a user's fair-use limits (0: no limit, 'default': the server's)")
    limits.add_argument("name")
    limits.add_argument("--max-queued", type=_limit, default=KEEP, help="most jobs waiting to start")
    limits.add_argument("--max-running", type=_limit, default=KEEP, help="most jobs released to run; more are held")
    limits.add_argument("--output-quota-gib", type=_quota, default=KEEP, help="most GiB of stored outputs")
    limits.set_defaults(handler=cmd_set_limits)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (AccountError, SchemaOutOfDate) as exc:
        print(f"labqueue-admin: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
