"""What /api/v1/health reports: database, broker, object store, live updates and the consumers heard from lately."""

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


def check(services: Services) -> dict[str, Any]:
    report: dict[str, Any] = {}
    try:
        with services.db.session() as session:
            session.execute(text("SELECT 1"))
            recent = session.scalars(select(ConsumerSeen).where(ConsumerSeen.last_seen >= utcnow() - CONSUMER_WINDOW)).all()
            report["consumers"] = [
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
        report["database"] = "ok"
    except SQLAlchemyError as exc:
        report["database"] = f"error: {exc.__class__.__name__}"
        report["consumers"] = []
    try:
        services.store.ping()
        report["object_store"] = "ok"
    except ObjectStoreError as exc:
        report["object_store"] = f"error: {exc}"
    try:
        services.publisher.ping()
        report["broker"] = "ok"
    except PublishError as exc:
        report["broker"] = f"error: {exc}"
    if services.live is not None:
        services.live.ensure_started()
        report["live_updates"] = services.live.status()  # this process' subscription to job changes
    vital = ("database", "object_store", "broker")
    report["status"] = "ok" if all(report[name] == "ok" for name in vital) else "degraded"
    return report
