"""One order of all job changes: every transaction that inserts or changes a job row numbers those rows from one
counter, so live streams have global ids and a reconnect asks for "every change after N" (webapp.live).

The counter is a single row taken with UPDATE: it stays locked until commit, so a number is visible only after every
smaller one, whichever process (web, producer) made the change. Stamping happens in the session's before_flush, so no
code path that changes a job can forget it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ChangeCounter, Job

LOGGER = logging.getLogger(__name__)

CHANGED = "labqueue.changed_up_to"  # session.info key: the newest number this transaction took

ChangeListener = Callable[[int], None]


def stamp_job_changes(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Give each new or changed job in this flush the next change number."""
    jobs = [obj for obj in session.new if isinstance(obj, Job)]
    jobs += [obj for obj in session.dirty if isinstance(obj, Job) and session.is_modified(obj)]
    if not jobs:
        return
    top = session.connection().execute(
        update(ChangeCounter).where(ChangeCounter.id == 1).values(value=ChangeCounter.value + len(jobs)).returning(ChangeCounter.value)
    ).scalar_one()
    for offset, job in enumerate(sorted(jobs, key=lambda j: j.id)):
        job.change_seq = top - len(jobs) + 1 + offset
    session.info[CHANGED] = top


def announce_committed(session: Session, listeners: list[ChangeListener]) -> None:
    """After a commit that changed jobs, tell the listeners the newest change number (they announce it to streams).

    A listener's failure is logged, never raised: the change is committed, and streams catch up by number anyway.
    """
    top = session.info.pop(CHANGED, None)
    if top is None:
        return
    for listener in listeners:
        try:
            listener(top)
        except Exception:
            LOGGER.exception("change listener failed for change %d", top)


def forget_changes(session: Session, *_args: Any) -> None:
    session.info.pop(CHANGED, None)


def current_seq(session: Session) -> int:
    return session.scalar(select(ChangeCounter.value).where(ChangeCounter.id == 1)) or 0
