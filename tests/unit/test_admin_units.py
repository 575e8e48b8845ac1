"""Pure logic of the admin side: the chart's geometry, the JSON log format, settings read from the environment, the
environment field of job events."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from producer.contract import ContractError, JobEvent, decode, encode
from storage.limits import LimitDefaults
from storage.logsetup import JsonFormatter, make_formatter
from storage.retention import RetentionConfig
from webapp.admin.chart import STATE_COLOURS, nice_ceiling, stacked_bars
from webapp.admin.data import History

JOB = "0123456789abcdef0123456789abcdef"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("consumer.job", logging.WARNING, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


def test_json_lines_carry_the_job_id_extras_and_exceptions() -> None:
    formatter = JsonFormatter("consumer-python")
    line = json.loads(formatter.format(record("job %s: log snapshot not stored: %s", JOB, "timeout")))
    assert line["job_id"] == JOB and line["service"] == "consumer-python" and line["level"] == "warning"
    assert line["message"] == f"job {JOB}: log snapshot not stored: timeout" and line["ts"].endswith("Z")
    extra = json.loads(formatter.format(record("GET /x 200", status=200, path="/x")))
    assert (extra["status"], extra["path"]) == (200, "/x") and "job_id" not in extra
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed")
        failed.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(formatter.format(failed))["exception"]


def test_text_format_for_developers() -> None:
    text = make_formatter("web", {"LABQUEUE_LOG_FORMAT": "text"}).format(record("job %s started", JOB))
    assert text.endswith(f"WARNING consumer.job: job {JOB} started")
    assert isinstance(make_formatter("web", {}), JsonFormatter)


def test_settings_from_the_environment() -> None:
    limits = LimitDefaults.from_env({"LABQUEUE_USER_MAX_QUEUED": "7", "LABQUEUE_USER_MAX_RUNNING": "0", "LABQUEUE_USER_OUTPUT_QUOTA_GIB": "1.5"})
    assert limits == LimitDefaults(max_queued=7, max_running=0, output_quota_gib=1.5)
    assert LimitDefaults.from_env({}) == LimitDefaults()
    assert RetentionConfig.from_env({"LABQUEUE_RETENTION_DAYS": "0"}).max_age is None
    assert RetentionConfig.from_env({}).max_age == timedelta(days=90)


def test_job_events_say_how_the_environment_came_about() -> None:
    event = JobEvent(job_id=JOB, status="succeeded", environment="cached")
    assert decode(encode(event), JobEvent).environment == "cached"
    assert decode(encode(JobEvent(job_id=JOB, status="running")), JobEvent).environment is None
    with pytest.raises(ContractError):
        decode(json.dumps({**json.loads(encode(event)), "environment": "stolen"}).encode(), JobEvent)


def test_axis_ceilings_read_well() -> None:
    assert [nice_ceiling(n) for n in (0, 3, 4, 7, 11, 180, 2001)] == [4, 4, 4, 8, 20, 200, 4000]


def test_stacked_bars_follow_the_counts() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    history = History(start, timedelta(hours=1), [Counter(), Counter(succeeded=3, failed=1), Counter(running=2)])

    chart = stacked_bars(history)

    assert chart.total == 6
    assert [(r.colour, round(r.height)) for r in chart.rects] == [
        (STATE_COLOURS["succeeded"], round(3 * (chart.bottom - chart.top) / 4)),
        (STATE_COLOURS["failed"], round((chart.bottom - chart.top) / 4)),
        (STATE_COLOURS["running"], round(2 * (chart.bottom - chart.top) / 4)),
    ]
    succeeded, failed = chart.rects[:2]
    assert succeeded.y + succeeded.height == pytest.approx(chart.bottom) and failed.y + failed.height == pytest.approx(succeeded.y)
    assert [t.label for t in chart.x_ticks] == ["00:00", "01:00", "02:00"]
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4"]
    assert [state for state, _ in chart.legend] == ["running", "succeeded", "failed"]
    assert chart.rects[0].title == "01:00 UTC: 3 succeeded"
