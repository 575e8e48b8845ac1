"""The one reconnect policy (storage.backoff): doubling, capped, and back to the start once a connection held."""

from __future__ import annotations

import logging
import threading

import pytest

from storage.backoff import Backoff, keep_connected


class RecordedStop(threading.Event):
    """A stop event whose waits are written down instead of slept."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def test_delays_double_up_to_the_cap_and_reset() -> None:
    backoff = Backoff(first=1, cap=30)
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_a_session_that_connected_starts_the_next_outage_from_the_first_delay(caplog: pytest.LogCaptureFixture) -> None:
    stop = RecordedStop()
    connects = iter([False, False, False, True, False])  # per session: did it connect before the broker went away?

    def session(backoff: Backoff) -> None:
        connected = next(connects, None)
        if connected is None:
            stop.set()
            return
        if connected:
            backoff.reset()
        raise ConnectionError("broker gone")

    with caplog.at_level(logging.WARNING):
        keep_connected(stop, session, (ConnectionError,), "test lost the broker", logging.getLogger("test"))
    assert stop.waits == [1, 2, 4, 1, 2]
    assert "test lost the broker (ConnectionError('broker gone')); reconnecting in 4 s" in caplog.text


def test_an_error_that_is_not_an_outage_is_raised() -> None:
    def session(_backoff: Backoff) -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        keep_connected(RecordedStop(), session, (ConnectionError,), "test", logging.getLogger("test"))


def test_nothing_runs_once_stopped() -> None:
    stop = RecordedStop()
    stop.set()
    keep_connected(stop, lambda _b: pytest.fail("ran after stop"), (ConnectionError,), "test", logging.getLogger("test"))
