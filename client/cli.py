"""``labqueue``, the researchers' command (submit, jobs, show, logs, download, resubmit, cancel, datasets): the REST API from a terminal, with the
upload's progress and the job's live status on stderr, and only results (job ids, tables, logs) on stdout."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from client.api import Client, ClientConfig, ClientError
from client.terminal import TerminalFilter, clean_line

LOGGER = logging.getLogger(__name__)

SKIPPED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".venv"}
BAR_WIDTH = 30


class ProgressBar:
    """A one-line bar on stderr when it is a terminal; otherwise a line at every quarter, for logs."""

    def __init__(self, label: str, stream: IO[str] = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = min(100, done * 100 // total) if total else 0
        if self.tty:
            if percent == self.shown and done != total:
                return
            filled = BAR_WIDTH * percent // 100
            rate = done / max(time.monotonic() - self.started, 1e-3)
            self.stream.write(
                f"\r{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}% "
                f"{human_bytes(done)}/{human_bytes(total)} {human_bytes(rate)}/s"
            )
            if done >= total:
                self.stream.write("\n")
        elif percent // 25 != self.shown // 25 or done >= total and self.shown != 100:
            self.stream.write(f"{self.label}: {percent}% ({human_bytes(done)} of {human_bytes(total)})\n")
        self.shown = percent
        self.stream.flush()


def human_bytes(size: float) -> str:
    """``1536`` → ``"1.5 KiB"``: the server's way of writing sizes (storage/units.py), which this package cannot import."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            break
        value /= 1024
    else:
        unit = "TiB"
    return f"{int(value)} {unit}" if value.is_integer() else f"{value:.1f} {unit}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def zip_folder(folder: Path, target: IO[bytes]) -> int:
    """Zip ``folder`` under its own name as the top folder (so the project keeps the folder's name), leaving out
    version-control and cache folders; symbolic links are followed, as the server refuses links in a zip."""
    count = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(name for name in dirs if name not in SKIPPED_DIRS)
            for name in sorted(files):
                path = Path(root) / name
                if name == ".DS_Store" or not path.is_file():
                    continue
                archive.write(path, str(PurePosixPath(folder.name, *path.relative_to(folder).parts)))
                count += 1
    target.seek(0)
    return count


def extract_output(archive_file: IO[bytes], target: Path) -> list[str]:
    """Unpack the output zip into ``target``, refusing any name that would land outside it."""
    names = []
    root = target.resolve()
    with zipfile.ZipFile(archive_file) as archive:
        for info in archive.infolist():
            destination = (root / info.filename).resolve()
            if info.filename.startswith("/") or not destination.is_relative_to(root) or destination == root:
                raise ClientError(0, "bad_output", f"the output holds an unsafe name {info.filename!r}; not unpacked")
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as sink:
                while chunk := source.read(2**20):
                    sink.write(chunk)
            names.append(info.filename)
    return names


def _client() -> Client:
    return Client(ClientConfig.load())


def ended(job: dict[str, Any]) -> bool:
    """The server gives every job that reached a final state its ``finished_at``, and only those: the client needs
    no copy of the state machine."""
    return job.get("finished_at") is not None


def _status_line(job: dict[str, Any]) -> str:
    line = f"{job['id']} {job['status']}"
    if job.get("reason"):
        line += f": {clean_line(job['reason'])}"
    return line


def wait_for(client: Client, job: dict[str, Any]) -> dict[str, Any]:
    """Follow the job's events until it ends, saying each new status on stderr."""
    _say(_status_line(job))
    last = job["status"]
    if ended(job):
        return job
    for name, data in client.events([job["id"]]):
        if name != "job" or data["id"] != job["id"]:
            continue
        if data["status"] != last:
            last = data["status"]
            _say(_status_line(data))
        if ended(data):
            return data
    raise AssertionError("the event stream never ends by itself")


def report_failure(client: Client, job: dict[str, Any]) -> None:
    """On stderr, what the job's page opens on when it ended badly: the summary, the log's last lines with the
    exception marked, and the hint (the server derives them: GET /jobs/<id> has them as ``failure``)."""
    failure = client.job(job["id"]).get("failure")
    if not failure:
        return
    _say(clean_line(failure["summary"]))
    exception = failure.get("exception") or ""
    marked = set(exception.splitlines()) if exception else set()
    lines = failure["excerpt"].splitlines()
    if lines:
        _say("--- the end of the log ---")
    for line in lines:
        _say(("> " if line in marked else "  ") + clean_line(line))
    if failure.get("hint"):
        _say(f"hint: {clean_line(failure['hint'])}")


def download(client: Client, job: dict[str, Any], folder: Path) -> None:
    if not job.get("output_key"):
        _say(f"job {job['id']} has no output to download")
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as spool:
        client.download_output(job["id"], spool, ProgressBar("download"))
        spool.seek(0)
        names = extract_output(spool, folder)
    _say(f"{len(names)} output file{'' if len(names) == 1 else 's'} in {folder}")


def cmd_submit(args: argparse.Namespace) -> int:
    source = Path(args.path)
    client = _client()
    with tempfile.TemporaryFile() as packed:
        file: IO[bytes]  # the folder zipped into ``packed``, or the zip itself
        if source.is_dir():
            count = zip_folder(source.resolve(), packed)
            _say(f"zipped {count} file{'' if count == 1 else 's'} of {source}")
            file, filename = packed, f"{source.resolve().name}.zip"
        elif source.is_file():
            file, filename = source.open("rb"), source.name
        else:
            raise ClientError(0, "no_such_file", f"{source} is neither a zip file nor a folder")
        with file:
            size = file.seek(0, os.SEEK_END)
            file.seek(0)
            job = client.submit(
                file,
                filename,
                size,
                runtime=args.runtime,
                datasets=args.dataset,
                time_limit=args.time_limit,
                memory_limit=args.memory_limit,
                disk_limit=args.disk_limit,
                name=args.name,
                progress=ProgressBar("upload"),
            )
    print(job["id"], flush=True)
    _say(f"submitted {clean_line(job['project'])} ({job['runtime']}): {client.config.url}/jobs/{job['id']}")
    if not (args.wait or args.download):
        return 0
    job = wait_for(client, job)
    if job["status"] != "succeeded":
        report_failure(client, job)
    if args.download:
        download(client, job, Path(args.download))
    return 0 if job["status"] == "succeeded" else 1


def _duration(job: dict[str, Any]) -> str:
    seconds = (job.get("usage") or {}).get("wall_seconds")
    return "" if seconds is None else f"{seconds:.1f}s"


def cmd_jobs(args: argparse.Namespace) -> int:
    page = _client().jobs(
        status=args.status,
        project=args.project,
        runtime=args.runtime,
        page=args.page,
        per_page=args.per_page,
        all="1" if args.all else None,
    )
    rows = [("ID", "STATUS", "RUNTIME", "PROJECT", "SUBMITTED", "DURATION")]
    for job in page["items"]:
        submitted = job["submitted_at"][:19].replace("T", " ")
        rows.append((job["id"], job["status"], job["runtime"], clean_line(job["project"]), submitted, _duration(job)))
    _print_table(rows)
    _say(f"page {page['page']} of {page['pages']} ({page['total']} job{'' if page['total'] == 1 else 's'})")
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the log with the job's terminal control sequences removed (colours kept on a terminal)."""
    client = _client()
    out = sys.stdout.buffer
    clean = TerminalFilter(keep_colours=sys.stdout.isatty())
    args.id = client.job(args.id)["id"]  # a prefix is resolved once (the event stream wants the whole id)
    try:
        _print_log(client, args, out, clean)
    finally:
        out.write(clean.finish())
        out.flush()
    if not args.follow:
        return 0
    job = client.job(args.id)
    _say(_status_line(job))
    if job["status"] != "succeeded":
        report_failure(client, job)
    return 0 if job["status"] == "succeeded" else 1


def _print_log(client: Client, args: argparse.Namespace, out: IO[bytes], clean: TerminalFilter) -> None:
    shown = len(chunk := client.log(args.id))
    out.write(clean.feed(chunk))
    out.flush()
    if not args.follow or ended(client.job(args.id)):
        return
    for name, data in client.events([args.id], log_job=args.id):
        if name == "log" and data["size"] > shown:
            chunk = client.log(args.id, shown)
            shown += len(chunk)
            out.write(clean.feed(chunk))
            out.flush()
        if name == "log" and data.get("final"):
            return
    raise AssertionError("the event stream never ends by itself")


def _show_lines(job: dict[str, Any]) -> list[tuple[str, str]]:
    """A job's record as label/value pairs, sizes and times as people read them."""
    usage = job.get("usage") or {}
    pairs = [
        ("name", job["name"]),
        ("id", job["id"]),
        ("status", job["status"] + (f": {job['reason']}" if job.get("reason") else "")),
        ("runtime", job["runtime"]),
        ("datasets", ", ".join(job.get("datasets") or []) or "none"),
        ("tags", ", ".join(job.get("tags") or [])),
        ("submitted", (job.get("submitted_at") or "")[:19].replace("T", " ") + " UTC"),
        ("waited", "" if usage.get("queue_wait_seconds") is None else f"{usage['queue_wait_seconds']:.1f}s"),
        ("ran", _duration(job)),
        ("limits", f"{job['time_limit']}s, {human_bytes(job['memory_limit'] * 2**20)} memory"
         + (f", {human_bytes(job['disk_limit'] * 2**20)} disk" if job.get("disk_limit") else "")),
        ("peak memory", "" if usage.get("peak_memory_bytes") is None else human_bytes(usage["peak_memory_bytes"])),
        ("output", "" if job.get("output_bytes") is None else human_bytes(job["output_bytes"])),
        ("notes", job.get("notes") or ""),
    ]
    return [(label, clean_line(value)) for label, value in pairs if value]


def cmd_show(args: argparse.Namespace) -> int:
    """The job's record on stdout; a job that ended badly also gets its failure summary (stderr)."""
    client = _client()
    job = client.job(args.id)
    width = max(len(label) for label, _ in _show_lines(job))
    for label, value in _show_lines(job):
        print(f"{label.ljust(width)}  {value}")
    print(f"{'page'.ljust(width)}  {client.config.url}/jobs/{job['id']}")
    if ended(job) and job["status"] != "succeeded":
        report_failure(client, job)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    client = _client()
    job = client.job(args.id)
    if not job.get("output_key"):
        raise ClientError(0, "no_output", f"job {job['id']} is {job['status']} and has no output")
    download(client, job, Path(args.to or f"output-{job['short_id']}"))
    return 0


def cmd_resubmit(args: argparse.Namespace) -> int:
    """The same zip, datasets and limits again, as a new job (its id on stdout)."""
    client = _client()
    job = client.resubmit(args.id)
    print(job["id"], flush=True)
    _say(f"resubmitted as {job['id']}: {client.config.url}/jobs/{job['id']}")
    if not args.wait:
        return 0
    job = wait_for(client, job)
    if job["status"] != "succeeded":
        report_failure(client, job)
    return 0 if job["status"] == "succeeded" else 1


def cmd_datasets(_args: argparse.Namespace) -> int:
    rows = [("NAME", "VERSION", "FILES", "SIZE", "UPDATED", "DESCRIPTION")]
    items = _client().datasets()
    for dataset in items:
        rows.append((
            dataset["name"],
            str(dataset["latest_version"]),
            str(dataset["file_count"]),
            human_bytes(dataset["total_bytes"]),
            (dataset.get("updated_at") or "")[:10],
            clean_line(dataset.get("description") or ""),
        ))
    _print_table(rows)
    _say(f"{len(items)} dataset{'' if len(items) == 1 else 's'}; submit with --dataset NAME (the newest version) or NAME@VERSION")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    job = _client().cancel(args.id)
    _say(_status_line(job) if job["status"] == "cancelled" else f"{job['id']} is {job['status']}; its consumer stops it")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labqueue", description="labqueue: submit jobs to the lab's server and follow them")
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="submit a job zip or a project folder (zipped for you)")
    submit.add_argument("path", metavar="PATH_OR_ZIP")
    submit.add_argument("--runtime", help="python or matlab (default: from the entry file)")
    submit.add_argument("--name", help="a name for the job (default: the project's name)")
    submit.add_argument("--dataset", action="append", default=[], metavar="NAME", help="mount a dataset (repeatable)")
    submit.add_argument("--time-limit", type=_positive, metavar="SECONDS")
    submit.add_argument("--memory-limit", type=_positive, metavar="MIB")
    submit.add_argument("--disk-limit", type=_positive, metavar="MIB", help="what the job may write under /job")
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends; exit 0 only if it succeeded")
    submit.add_argument("--download", metavar="DIR", help="wait, then unpack the job's output into DIR")
    submit.set_defaults(handler=cmd_submit)
    jobs = commands.add_parser("jobs", help="list your jobs, newest first")
    jobs.add_argument("--status")
    jobs.add_argument("--project", help="part of the project name")
    jobs.add_argument("--runtime")
    jobs.add_argument("--page", type=_positive, default=1)
    jobs.add_argument("--per-page", type=_positive, default=20)
    jobs.add_argument("--all", action="store_true", help="everyone's jobs (admins)")
    jobs.set_defaults(handler=cmd_jobs)
    logs = commands.add_parser("logs", help="print a job's log")
    logs.add_argument("id")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing while the job runs; then say how it ended, exit 0 only if it succeeded")
    logs.set_defaults(handler=cmd_logs)
    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("id")
    cancel.set_defaults(handler=cmd_cancel)
    show = commands.add_parser("show", help="a job's record: state and reason, datasets, times, limits, sizes; why it failed")
    show.add_argument("id")
    show.set_defaults(handler=cmd_show)
    fetch = commands.add_parser("download", help="unpack a job's output into a folder")
    fetch.add_argument("id")
    fetch.add_argument("--to", metavar="DIR", help="the folder (default: output-<short id>)")
    fetch.set_defaults(handler=cmd_download)
    resubmit = commands.add_parser("resubmit", help="run a job again: the same zip, datasets and limits")
    resubmit.add_argument("id")
    resubmit.add_argument("--wait", action="store_true", help="follow the new job until it ends; exit 0 only if it succeeded")
    resubmit.set_defaults(handler=cmd_resubmit)
    datasets = commands.add_parser("datasets", help="the datasets a job can mount (--dataset NAME)")
    datasets.set_defaults(handler=cmd_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ClientError as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
