"""An HTTP client of labqueue's REST API for scripts and the ``labqueue`` command.

It needs only the server's URL and an API token, from ``LABQUEUE_URL``/``LABQUEUE_TOKEN`` or a config file, and
never touches the database: it works from any machine that can reach the web app.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

LOGGER = logging.getLogger(__name__)

CHUNK = 256 * 1024
TIMEOUT = (10, 60)  # connect, read: every call has one
UPLOAD_TIMEOUT = (10, 600)  # the server checks the whole zip before it answers
RECONNECT_SECONDS = 2.0

Progress = Callable[[int, int], None]


class ClientError(RuntimeError):
    """A request the server refused or could not answer; ``status`` 0 means it was never reached."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    if env.get("LABQUEUE_CONFIG"):
        return Path(env["LABQUEUE_CONFIG"])
    base = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")).expanduser() / ".config")
    return base / "labqueue" / "config.ini"


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str

    @classmethod
    def load(cls, env: Mapping[str, str] = os.environ) -> ClientConfig:
        """The environment wins over the config file's ``[labqueue]`` section (``url``, ``token``)."""
        path = config_path(env)
        section: dict[str, str] = {}
        if path.is_file():
            parser = configparser.ConfigParser()
            parser.read(path, encoding="utf-8")
            section = dict(parser["labqueue"]) if parser.has_section("labqueue") else {}
            if path.stat().st_mode & 0o077 and section.get("token"):
                LOGGER.warning("%s holds a token and others can read it: chmod 600 %s", path, path)
        url = (env.get("LABQUEUE_URL") or section.get("url") or "").strip().rstrip("/")
        token = (env.get("LABQUEUE_TOKEN") or section.get("token") or "").strip()
        if not url or not token:
            raise ClientError(
                0,
                "not_configured",
                f"set LABQUEUE_URL and LABQUEUE_TOKEN, or write them as url = and token = under [labqueue] in {path} "
                "(make a token on the web app's account page)",
            )
        return cls(url=url, token=token)


class MultipartUpload:
    """A multipart/form-data body read straight from the zip's file, so an upload of any size streams with a
    known Content-Length and reports its progress.

    It is iterable but has no ``read``: urllib3 reads a file-like body 16 KiB at a time, which cost three times the
    CPU of sending CHUNK-sized pieces."""

    def __init__(
        self, fields: list[tuple[str, str]], filename: str, file: IO[bytes], size: int, progress: Progress | None
    ) -> None:
        boundary = "labqueue" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        quoted = filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode() for name, value in fields
        )
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'.encode()
        head += b"Content-Type: application/zip\r\n\r\n"
        self._parts: list[IO[bytes] | bytes] = [head, file, f"\r\n--{boundary}--\r\n".encode()]
        self._length = len(head) + size + len(self._parts[2])  # type: ignore[arg-type]
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._read(CHUNK):
            yield chunk

    def _read(self, size: int) -> bytes:
        while self._parts:
            part = self._parts[0]
            if isinstance(part, bytes):
                chunk, rest = part[:size], part[size:]
                self._parts[0] = rest
                if not rest:
                    self._parts.pop(0)
            else:
                chunk = part.read(size)
                if not chunk:
                    self._parts.pop(0)
                    continue
            if chunk:
                self._sent += len(chunk)
                if self._progress is not None:
                    self._progress(self._sent, self._length)
                return chunk
        return b""


def parse_events(lines: Iterator[str], last_id: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs from server-sent event lines; comments and retry hints are skipped. Each ``id:`` seen
    is kept as ``last_id[0]``, for the Last-Event-ID of a reconnect."""
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line.startswith("id:") and last_id is not None:
            last_id[:] = [line[3:].strip()]


class Client:
    """One server, one token; each method is one API call, raising ClientError with the server's message."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {config.token}", "User-Agent": "labqueue-client"})

    def _url(self, path: str) -> str:
        return f"{self.config.url}/api/v1{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.http.request(method, self._url(path), **kwargs)
        except requests.RequestException as exc:
            raise ClientError(0, "unreachable", f"cannot reach {self.config.url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def submit(
        self,
        file: IO[bytes],
        filename: str,
        size: int,
        runtime: str | None = None,
        datasets: list[str] | None = None,
        time_limit: int | None = None,
        memory_limit: int | None = None,
        progress: Progress | None = None,
        disk_limit: int | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        fields = [("datasets", dataset) for dataset in datasets or []]
        for key, value in (("runtime", runtime), ("time_limit", time_limit), ("memory_limit", memory_limit), ("disk_limit", disk_limit), ("name", name)):
            if value is not None:
                fields.append((key, str(value)))
        body = MultipartUpload(fields, filename, file, size, progress)
        response = self.request("POST", "/jobs", data=body, headers={"Content-Type": body.content_type}, timeout=UPLOAD_TIMEOUT)
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/jobs/{job_id}").json()

    def jobs(self, **params: Any) -> dict[str, Any]:
        return self.request("GET", "/jobs", params={k: v for k, v in params.items() if v not in (None, "")}).json()

    def resubmit(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/jobs/{job_id}/resubmit").json()

    def datasets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/datasets").json()["items"]

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/jobs/{job_id}/cancel").json()

    def log(self, job_id: str, offset: int = 0) -> bytes:
        """The log from ``offset`` on; empty when there is nothing past it yet."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            return self.request("GET", f"/jobs/{job_id}/log", headers=headers).content
        except ClientError as exc:
            if exc.status == 416:
                return b""
            raise

    def download_output(self, job_id: str, target: IO[bytes], progress: Progress | None = None) -> int:
        """Stream the output zip into ``target``; follows the server's redirect to a presigned URL if it gives one."""
        response = self.request("GET", f"/jobs/{job_id}/output", stream=True)
        with response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for chunk in response.iter_content(CHUNK):
                target.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        return done

    def events(self, job_ids: list[str], log_job: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Job (and log) events for as long as the caller reads them; a dropped or ended stream is reopened with the
        last event id seen (as a browser does), and the server then sends what changed meanwhile, so nothing is missed."""
        params: list[tuple[str, str]] = [("job", job_id) for job_id in job_ids]
        if log_job:
            params.append(("log", log_job))
        last_id: list[str] = []
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id[0]
            try:
                with self.request("GET", "/events", params=params, stream=True, headers=headers) as response:
                    response.encoding = "utf-8"  # so the lines are str
                    # chunk_size=None: each read as it arrives, so an event is never held back waiting for more bytes.
                    # iter_lines passes it on to iter_content, whose stubs allow it; iter_lines' stubs do not.
                    lines: Iterator[str] = response.iter_lines(chunk_size=None, decode_unicode=True)  # type: ignore[call-overload]
                    for name, data in parse_events(lines, last_id):
                        if name != "bye":
                            yield name, data
            except ClientError as exc:
                if exc.status != 0:
                    raise
                LOGGER.warning("event stream lost (%s); reconnecting", exc)
            except requests.RequestException as exc:
                LOGGER.warning("event stream lost (%s); reconnecting", exc)
            time.sleep(RECONNECT_SECONDS)


def _error(response: requests.Response) -> ClientError:
    try:
        body = response.json()
        return ClientError(response.status_code, str(body.get("error", "error")), str(body.get("message", response.reason)))
    except ValueError:
        text = response.text.strip().splitlines()
        return ClientError(response.status_code, "error", text[0] if text else f"{response.status_code} {response.reason}")
