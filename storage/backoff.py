"""How every process waits for a remote that went away (the broker, the object store): capped, doubling delays.

One policy for the consumer's and the recorder's broker loops, the web app's live-updates subscription and the
consumer's waits through a store outage. It lives in ``storage`` because every process imports ``storage``.
(tenacity's waits grow with the attempts of one call and cannot be reset from inside it, as a session that stays
connected for days needs.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

FIRST_DELAY = 1.0
MAX_DELAY = 30.0


class Backoff:
    """1, 2, 4 … ``cap`` seconds; back to ``first`` once the remote answered again (``reset``)."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> None:
        self.first, self.cap = first, cap
        self._delay = first

    def next(self) -> float:
        """The delay to wait now; the one after it is twice as long, up to ``cap``."""
        delay = self._delay
        self._delay = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._delay = self.first


def keep_connected(
    stop: threading.Event,
    session: Callable[[Backoff], None],
    errors: tuple[type[BaseException], ...],
    what: str,  # e.g. "recorder lost the broker"
    logger: logging.Logger,
) -> None:
    """Run ``session`` until ``stop`` is set, and again after each failure in ``errors``, waiting out a backoff delay
    first. ``session`` calls ``backoff.reset()`` once it is connected, so that an outage after days of work starts from
    the first delay again. Any other error is raised: it is not an outage to wait out."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            session(backoff)
        except errors as exc:
            delay = backoff.next()
            logger.warning("%s (%r); reconnecting in %.0f s", what, exc, delay)
            stop.wait(delay)
