"""``labqueue``: admin commands on this server's database (users, tokens), and the API client's commands."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

from sqlalchemy import select

from storage.config import StorageConfig, database_url
from storage.db import Database
from storage.models import User
from storage.objects import ObjectStore, ObjectStoreError
from webapp.accounts import AccountError, create_token, create_user
from webapp.admin.cli import add_commands as add_admin_commands
from webapp.admin.demo import cmd_seed_demo
from webapp.client import ClientError
from webapp.clientcli import add_commands as add_client_commands


def _database() -> Database:
    db = Database(database_url())
    db.upgrade()
    return db


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
    web workers and the producer do not race each other on the same migration."""
    _database()
    try:
        ObjectStore(StorageConfig.from_env()).ensure_bucket()
    except ObjectStoreError as exc:
        print(f"labqueue: the bucket is not ready: {exc}", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labqueue", description="labqueue: submit and follow jobs, administer users and tokens")
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
    add_admin_commands(commands)
    add_client_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (AccountError, ClientError) as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
