"""The job state machine: forward only, terminal states final."""

import pytest

from storage.states import TERMINAL_STATES, JobState, UnknownStateError, can_transition, parse_state


def test_forward_moves_are_allowed() -> None:
    assert can_transition(JobState.QUEUED, JobState.PREPARING)
    assert can_transition(JobState.PREPARING, JobState.RUNNING)
    assert can_transition(JobState.RUNNING, JobState.SUCCEEDED)
    assert can_transition(JobState.QUEUED, JobState.CANCELLED)
    assert can_transition(JobState.QUEUED, JobState.SYSTEM_ERROR)


def test_backward_and_repeated_moves_are_refused() -> None:
    assert not can_transition(JobState.RUNNING, JobState.PREPARING)
    assert not can_transition(JobState.RUNNING, JobState.RUNNING)
    assert not can_transition(JobState.PREPARING, JobState.QUEUED)


@pytest.mark.parametrize("final", sorted(TERMINAL_STATES))
def test_terminal_states_are_final(final: JobState) -> None:
    assert final.is_terminal
    for other in JobState:
        assert not can_transition(final, other)


def test_unknown_state_names_are_rejected() -> None:
    assert parse_state("running") is JobState.RUNNING
    with pytest.raises(UnknownStateError):
        parse_state("exploded")
