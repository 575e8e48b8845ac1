"""Admin commands of ``labqueue`` that read or change this server's database and object store directly:
``usage``, ``cleanup`` and ``set-limits``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.config import StorageConfig, database_url
from storage.db import Database
from storage.limits import GIB
from storage.models import User
from storage.objects import ObjectStore
from storage.retention import RetentionConfig, run_cleanup
from webapp.accounts import AccountError
from webapp.admin.usage import usage_by_user
from webapp.admin.users import set_limits
from webapp.formatting import human_bytes, human_seconds

KEEP = object()  # a limit option not given: the user's current value stays
COLUMNS = ("user", "jobs", "succeeded", "failed", "run time", "CPU time", "mean wait", "peak memory", "outputs")


def _database() -> Database:
    db = Database(database_url())
    db.upgrade()
    return db


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
        print(f"labqueue: stopped early: {report.error}", file=sys.stderr)
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
        current = (user.max_queued, user.max_running, None if user.output_quota_bytes is None else user.output_quota_bytes / GIB)
        given = (args.max_queued, args.max_running, args.output_quota_gib)
        set_limits(session, user.id, *(old if new is KEEP else new for old, new in zip(current, given, strict=True)))
    print(f"limits of {args.name} saved", file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
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
