"""The fair-use checks at submission: a user's queued jobs and stored outputs against their limits.

The running limit is not checked here: a job past it is accepted and held by the producer (producer.fairness).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.limits import LimitDefaults, limits_of, over, queued_count, stored_output_bytes
from storage.models import User
from storage.units import human_bytes

Refusal = tuple[int, str, str]  # HTTP status, API error code, message


def fair_use_refusal(session: Session, owner_id: int, defaults: LimitDefaults) -> Refusal | None:
    """Why a new job of this user is refused now, or None when it may be accepted."""
    limits = limits_of(session.get_one(User, owner_id), defaults)
    queued = queued_count(session, owner_id)
    if over(queued, limits.max_queued):
        message = f"you have {queued} jobs waiting to start (limit {limits.max_queued}); submit more once some have started"
        return 429, "too_many_queued", message
    stored = stored_output_bytes(session, owner_id)
    if over(stored, limits.output_quota_bytes):
        message = (
            f"your stored outputs take {human_bytes(stored)} of your {human_bytes(limits.output_quota_bytes)} quota; "
            "ask an admin for more, or wait until old outputs expire"
        )
        return 422, "quota_exceeded", message
    return None
