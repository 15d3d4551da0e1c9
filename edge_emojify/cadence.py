"""How often each face's expression is read: at most ``emotion.max_rate`` times a second, shared fairly.

The decision (:mod:`edge_emojify.decision`) averages each face's scores with a time constant in
seconds, so it needs readings at a steady rate, not one per camera frame. Measured on validation
faces at 30 fps by ``python -m convert.bench_steady`` (its ``app`` row feeds the decision only the
frames this cadence reads), 15 readings a second hold as still and follow a change as fast as 30:
0.098 against 0.112 label changes a second on a held face, the same 0.63 s to show a clear
change, 64.4 against 63.0 % right when settled. Reading a face costs a crop and an
emotion-model pass (about a third of a tracked face's frame time), so at 30 fps each face is read
on every other frame; a Pi at 10-15 fps still reads every face on every frame.

Reading credit builds up with frame time (``max_rate`` readings a second for each face in the
frame) and is spent on the faces read longest ago. So two faces at 30 fps are read one on each
frame, and the frame time stays even, instead of both on every other frame. A new face is read
on the frame it appears: its emoji starts from its own scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class Cadence:
    """Chooses which faces of a frame are read by the emotion model."""

    def __init__(self, max_rate: float) -> None:
        self.max_rate = max_rate  # readings a second per face; 0 = every face on every frame
        self._credit = 0.0
        self._last: float | None = None

    def due(self, last_read: Sequence[float | None], timestamp: float) -> list[int]:
        """Indices of the faces to read now, in ``last_read`` order.

        ``last_read[i]`` is the timestamp of face ``i``'s latest reading, or None for a face that
        has none yet (a new face, always read).
        """
        if self.max_rate <= 0:
            return list(range(len(last_read)))
        if not last_read:  # no face on this frame (a missed detection, a recording's frame between
            return []      # two readings): the credit waits for the faces, it is not spent on none
        elapsed = 0.0 if self._last is None else max(0.0, timestamp - self._last)
        self._last = timestamp
        known = [i for i, t in enumerate(last_read) if t is not None]
        new = [i for i, t in enumerate(last_read) if t is None]
        # At most one reading per face per frame, and no saving up beyond that.
        self._credit = min(self._credit + self.max_rate * elapsed * len(known), float(len(known)))
        count = math.floor(self._credit + 1e-9)
        self._credit -= count
        oldest = sorted(known, key=lambda i: last_read[i])[:count]  # type: ignore[arg-type, return-value]
        return sorted(oldest + new)

    def reset(self) -> None:
        """A new scene: nothing carries over."""
        self._credit = 0.0
        self._last = None
