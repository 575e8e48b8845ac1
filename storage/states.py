"""The job state machine, written once: used by the event recorder and the API."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    OUT_OF_MEMORY = "out_of_memory"
    OUTPUT_TOO_LARGE = "output_too_large"
    CANCELLED = "cancelled"
    SYSTEM_ERROR = "system_error"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.TIMED_OUT,
        JobState.OUT_OF_MEMORY,
        JobState.OUTPUT_TOO_LARGE,
        JobState.CANCELLED,
        JobState.SYSTEM_ERROR,
    }
)

# Progress order: an event may only move a job forward along it.
_RANK = {JobState.QUEUED: 0, JobState.PREPARING: 1, JobState.RUNNING: 2}
_TERMINAL_RANK = 3

DEFAULT_REASONS = {
    JobState.QUEUED: "waiting for a consumer",
    JobState.PREPARING: "fetching input and preparing the environment",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "exited with code 0",
    JobState.FAILED: "exited with a non-zero code",
    JobState.TIMED_OUT: "stopped at the wall-clock limit",
    JobState.OUT_OF_MEMORY: "killed by the memory limit",
    JobState.OUTPUT_TOO_LARGE: "output/ exceeded the output size limit",
    JobState.CANCELLED: "cancelled",
    JobState.SYSTEM_ERROR: "infrastructure failure",
}


class UnknownStateError(ValueError):
    """A state name that is not one of SPEC section 3."""


def parse_state(name: str) -> JobState:
    try:
        return JobState(name)
    except ValueError:
        raise UnknownStateError(f"unknown job state {name!r}") from None


def _rank(state: JobState) -> int:
    return _TERMINAL_RANK if state.is_terminal else _RANK[state]


def can_transition(current: JobState, new: JobState) -> bool:
    """True when ``new`` moves the job forward; terminal states are final, so a late or duplicate event is ignored."""
    if current.is_terminal:
        return False
    return _rank(new) > _rank(current)
