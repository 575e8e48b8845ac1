"""The Prometheus collector: every metric computed at scrape time from the database, and the broker for queue depth.

Why not counters kept in memory: the web runs as several gunicorn workers, the producer and the consumers are other
processes, possibly on other machines; in-process counters would each hold a fraction and reset on restart
(prometheus-client's multiprocess mode fixes the first only for one host, with a directory to manage). Everything
the metrics say is in the database already (jobs with their times and usage, applied by the producer from the
consumers' events; consumers' heartbeats), so each scrape reads it: any worker answers the same, restarts lose
nothing. Counters stay monotonic because job rows are never deleted (retention keeps them, marked expired). The
histograms are aggregated in SQL, so a scrape costs a few indexed queries, not a pass over jobs in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from producer.config import BrokerConfig
from storage.db import Database
from storage.models import Job, OutboxEntry
from storage.sqltime import seconds_between
from storage.states import TERMINAL_STATES, JobState
from webapp.admin.data import consumers
from webapp.admin.queues import queue_depths

WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)
RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
FINISHED = tuple(state.value for state in TERMINAL_STATES)
UNFINISHED = tuple(state.value for state in JobState if state not in TERMINAL_STATES)


def histogram(session: Session, value: Any, condition: Any, buckets: tuple[int, ...]) -> dict[str, tuple[list[float], float]]:
    """Per runtime: cumulative counts at each bucket bound (then +Inf) and the sum of ``value``, from one query."""
    columns = [func.sum(case((value <= bound, 1), else_=0)) for bound in buckets]
    query = select(Job.runtime, *columns, func.count(), func.coalesce(func.sum(value), 0.0)).where(condition)
    query = query.group_by(Job.runtime)
    result = {}
    for runtime, *counts, total, sum_value in session.execute(query):
        result[runtime] = ([float(c or 0) for c in counts] + [float(total)], float(sum_value))
    return result


def _histogram_family(name: str, doc: str, data: dict[str, tuple[list[float], float]], buckets: tuple[int, ...]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["runtime"])
    bounds = [str(float(bound)) for bound in buckets] + ["+Inf"]
    for runtime, (counts, sum_value) in sorted(data.items()):
        family.add_metric([runtime], list(zip(bounds, counts, strict=True)), sum_value)
    return family


class LabqueueCollector(Collector):
    """Reads the metrics afresh on every scrape; see the module's docstring for why."""

    def __init__(self, db: Database, broker: BrokerConfig) -> None:
        self.db = db
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        with self.db.session() as session:
            yield from self._jobs(session)
            yield from self._durations(session)
            yield from self._consumers(session)
        yield from self._queues()

    def _jobs(self, session: Session) -> Iterator[Metric]:
        submitted = CounterMetricFamily("labqueue_jobs_submitted", "Jobs accepted", labels=["runtime"])
        uploads = CounterMetricFamily("labqueue_upload_bytes", "Bytes of job zips accepted", labels=["runtime"])
        cpu = CounterMetricFamily("labqueue_job_cpu_seconds", "CPU seconds used by finished jobs", labels=["runtime"])
        totals = {runtime: (0, 0, 0.0) for runtime in self.broker.runtimes}
        sums = (func.count(), func.sum(Job.input_size), func.sum(Job.cpu_seconds))
        for runtime, count, size, seconds in session.execute(select(Job.runtime, *sums).group_by(Job.runtime)):
            totals[runtime] = (count, size or 0, seconds or 0.0)  # a sum of only NULLs (no job of it finished yet) is NULL
        for runtime, (count, size, seconds) in sorted(totals.items()):
            submitted.add_metric([runtime], count)
            uploads.add_metric([runtime], size)
            cpu.add_metric([runtime], seconds)
        yield from (submitted, uploads, cpu)

        finished = CounterMetricFamily("labqueue_jobs_finished", "Jobs that ended, by final state", labels=["runtime", "state"])
        current = GaugeMetricFamily("labqueue_jobs", "Jobs not finished, by state", labels=["runtime", "state"])
        counts = {(runtime, state): 0 for runtime in self.broker.runtimes for state in UNFINISHED}
        by_state = select(Job.runtime, Job.status, func.count()).group_by(Job.runtime, Job.status)
        for runtime, state, count in session.execute(by_state):
            counts[(runtime, state)] = count
        for (runtime, state), count in sorted(counts.items()):
            (finished if state in FINISHED else current).add_metric([runtime, state], count)
        yield from (finished, current)

        held = GaugeMetricFamily("labqueue_jobs_held", "Queued jobs held back at their owner's running limit", labels=["runtime"])
        held_counts = dict.fromkeys(self.broker.runtimes, 0)
        query = (
            select(Job.runtime, func.count())
            .join(OutboxEntry, OutboxEntry.job_id == Job.id)
            .where(OutboxEntry.held.is_(True), Job.status == JobState.QUEUED.value)
            .group_by(Job.runtime)
        )
        held_counts.update(dict(session.execute(query).tuples().all()))
        for runtime, count in sorted(held_counts.items()):
            held.add_metric([runtime], count)
        yield held

        doc = "Jobs with a requirements.txt, by whether their environment image was cached or built"
        images = CounterMetricFamily("labqueue_environment_images", doc, labels=["runtime", "result"])
        by_environment = select(Job.runtime, Job.environment, func.count()).where(Job.environment.in_(("cached", "built")))
        for runtime, result, count in session.execute(by_environment.group_by(Job.runtime, Job.environment)):
            images.add_metric([runtime, cast(str, result)], count)  # not NULL: the query keeps "cached" and "built" only
        yield images

    def _durations(self, session: Session) -> Iterator[Metric]:
        wait = seconds_between(Job.started_at, Job.submitted_at, session.get_bind().dialect.name)
        waits = histogram(session, wait, Job.started_at.is_not(None), WAIT_BUCKETS)
        yield _histogram_family("labqueue_job_queue_wait_seconds", "From submission to the job's start", waits, WAIT_BUCKETS)
        runs = histogram(session, Job.wall_seconds, Job.status.in_(FINISHED) & Job.wall_seconds.is_not(None), RUN_BUCKETS)
        yield _histogram_family("labqueue_job_run_seconds", "Wall-clock run time of finished jobs", runs, RUN_BUCKETS)

    def _consumers(self, session: Session) -> Iterator[Metric]:
        alive = GaugeMetricFamily("labqueue_consumers", "Consumers heard from in the last 30 s", labels=["runtime"])
        slots = GaugeMetricFamily("labqueue_consumer_slots", "Job slots of those consumers", labels=["runtime"])
        busy = GaugeMetricFamily("labqueue_consumer_busy_slots", "Slots running a job", labels=["runtime"])
        totals = {runtime: [0, 0, 0] for runtime in self.broker.runtimes}
        for consumer in consumers(session):
            if consumer.alive:
                total = totals.setdefault(consumer.runtime, [0, 0, 0])
                total[0] += 1
                total[1] += consumer.slots
                total[2] += consumer.busy
        for runtime, (count, slot_count, busy_count) in sorted(totals.items()):
            alive.add_metric([runtime], count)
            slots.add_metric([runtime], slot_count)
            busy.add_metric([runtime], busy_count)
        yield from (alive, slots, busy)

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("labqueue_queue_depth", "Messages waiting in each runtime's RabbitMQ queue", labels=["runtime"])
        depths = queue_depths(self.broker)
        for runtime, count in sorted(depths.items()):
            if count is not None:
                depth.add_metric([runtime], count)
        up = GaugeMetricFamily("labqueue_broker_up", "1 when RabbitMQ answered the queue-depth query")
        up.add_metric([], 1 if any(count is not None for count in depths.values()) else 0)
        yield from (depth, up)
