"""The web's logs as labqueue's structured lines on stdout: the app's own records, and gunicorn's error and access
logs through ``gunicorn --logger-class webapp.weblogging.StructuredLogger --access-logfile - ...``."""

from __future__ import annotations

import logging
import re
import sys
from datetime import timedelta
from typing import Any

from flask import Flask
from gunicorn.glogging import Logger

from storage.logsetup import configure_logging, json_logs, make_formatter

JOB_IN_PATH = re.compile(r"/jobs/([0-9a-f]{32})(?:/|$)")


def init_app(app: Flask) -> None:
    """Log the app's records as JSON lines, unless testing or a host (pytest, a WSGI server) configured logging."""
    if not app.testing and not logging.getLogger().handlers:
        configure_logging("web")


class StructuredLogger(Logger):
    """Gunicorn's logger with labqueue's format; access lines carry method, path, status, size, duration, job id."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.json_lines = json_logs()  # read once: access() runs for every request
        formatter = make_formatter("web")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                    handler.setStream(sys.stdout)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        if not self.json_lines:
            super().access(resp, req, environ, request_time)
            return
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "-")
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        if match := JOB_IN_PATH.search(path):
            fields["job_id"] = match.group(1)
        self.access_log.info("%s %s %s", method, path, status, extra=fields)
