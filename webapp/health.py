"""What /api/v1/health reports: database, broker, object store, live updates and the consumers heard from lately.

Everyone may ask whether labqueue works: the overall status and ``ok``/``failing`` per component. What is behind
it (the error texts, the consumers' names, hosts, slots, how busy they are and why one takes no job, such as free
disk below its reserve) maps the lab's machines, so only
admins and Prometheus' metrics token see it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from producer.publisher import PublishError
from storage.models import ConsumerSeen, utcnow
from storage.objects import ObjectStoreError
from webapp.services import Services

CONSUMER_WINDOW = timedelta(seconds=30)
VITAL = ("database", "object_store", "broker")


def check(services: Services) -> dict[str, Any]:
    """The full report: ``status``, ``components`` (ok/failing), ``errors`` (what failed, why) and ``consumers``."""
    errors: dict[str, str] = {}
    consumers: list[dict[str, Any]] = []
    try:
        with services.db.session() as session:
            session.execute(text("SELECT 1"))
            recent = session.scalars(select(ConsumerSeen).where(ConsumerSeen.last_seen >= utcnow() - CONSUMER_WINDOW)).all()
            consumers = [
                {
                    "name": c.name,
                    "runtime": c.runtime,
                    "host": c.host,
                    "slots": c.slots,
                    "busy": c.busy,
                    "taking_jobs": not c.paused,
                    "paused": c.paused,
                    "last_seen": c.last_seen.isoformat(),
                }
                for c in recent
            ]
    except SQLAlchemyError as exc:
        errors["database"] = exc.__class__.__name__
    try:
        services.store.ping()
    except ObjectStoreError as exc:
        errors["object_store"] = str(exc)
    try:
        services.publisher.ping()
    except PublishError as exc:
        errors["broker"] = str(exc)
    if services.live is not None:
        services.live.ensure_started()
        live = services.live.status()  # this process' subscription to job changes
        if live != "ok":
            errors["live_updates"] = live
    if not consumers:
        errors["consumers"] = f"no consumer heard from in the last {CONSUMER_WINDOW.total_seconds():.0f} s"
    components = {name: "failing" if name in errors else "ok" for name in (*VITAL, "live_updates", "consumers")}
    status = "ok" if all(components[name] == "ok" for name in VITAL) else "degraded"
    return {"status": status, "components": components, "errors": errors, "consumers": consumers}


def public(report: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a report."""
    return {"status": report["status"], "components": report["components"]}
