"""When to try a failed camera again: soon after the first failure, then less and less often.

A camera that was unplugged, or is held by another program, may come back at any time; trying
every frame would flood the log and the driver, never trying again would leave a hall with a
dead mirror. The delays double up to a ceiling, and one success starts the schedule over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds before each retry; the last repeats


class Backoff:
    """Counts consecutive failures and says when the next attempt is due (clock injected for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, delays: tuple[float, ...] = DELAYS) -> None:
        self.clock = clock
        self.delays = delays
        self.failures = 0
        self._retry_at = 0.0

    def failed(self) -> float:
        """Record a failure; returns the seconds until the next attempt is due."""
        self.failures += 1
        delay = self.delays[min(self.failures, len(self.delays)) - 1]
        self._retry_at = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._retry_at = 0.0

    def due(self) -> bool:
        return self.clock() >= self._retry_at
