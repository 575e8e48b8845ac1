"""Two kinds of failure: the job's own (final, never retried) and the infrastructure's (the job goes back to the queue)."""

from __future__ import annotations

from storage.states import JobState


class LabqueueError(Exception):
    pass


class JobError(LabqueueError):
    """The job's own fault: it ends in ``state`` with this reason, is acked and never retried."""

    def __init__(self, state: JobState, reason: str, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.exit_code = exit_code


class InfraError(LabqueueError):
    """Docker, the object store or the broker failed: the message is returned and retried up to the delivery limit."""
