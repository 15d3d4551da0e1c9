"""What a face shows: a smoothed, hysteretic, time-based decision over the model's per-frame scores.

The model scores every frame on its own, and on a face that has not changed neighbouring classes
trade places from frame to frame; shown as they come, the emoji flickers. The decision turns that
stream into a label people can trust:

- **Smoothing in time.** An exponential moving average with a time constant in seconds
  (``alpha = 1 - exp(-dt / T)``), so a Pi 4 at 10 fps and a desktop at 30 fps see the same
  curve; a face lost for a while comes back with its new evidence weighted accordingly.
- **Unsure is a state.** When the smoothed top score is low, or barely ahead of the second, the
  face counts as unsure and shows the configured unsure face instead of a guess.
- **Hysteresis.** A new emotion must lead the shown one by ``hysteresis`` (in smoothed score).
- **Dwell.** Whatever wants to be shown next (an emotion or unsure) must keep wanting it for
  ``dwell_seconds`` before the emoji changes; a one-frame flip never reaches the screen.

Each step returns a new frozen :class:`Verdict`; nothing is mutated, so the benchmark and the
tests can replay a score stream at any frame rate and compare.
"""

from __future__ import annotations

import math

import numpy as np

from edge_emojify.config import DecisionConfig
from edge_emojify.labels import EMOTIONS, NEUTRAL, UNSURE
from edge_emojify.types import Verdict


class Decider:
    """The policy of :mod:`edge_emojify.decision`, one instance for all faces."""

    def __init__(self, cfg: DecisionConfig) -> None:
        self.cfg = cfg

    def start(self, scores: np.ndarray, timestamp: float) -> Verdict:
        """A new face: it shows what its first scores ask for at once (there is nothing to hold)."""
        smoothed = np.asarray(scores, np.float32)
        wanted, why = self._wanted(smoothed, UNSURE)
        return Verdict(wanted, smoothed, wanted, timestamp, timestamp, why)

    def update(self, verdict: Verdict, scores: np.ndarray, timestamp: float) -> Verdict:
        """The verdict after one more frame's scores for the same face."""
        dt = max(0.0, timestamp - verdict.time)
        smoothing = self.cfg.smoothing_seconds
        alpha = 1.0 - math.exp(-dt / smoothing) if smoothing > 0 else 1.0
        smoothed = ((1 - alpha) * verdict.scores + alpha * np.asarray(scores, np.float32)).astype(np.float32)
        wanted, why = self._wanted(smoothed, verdict.label)
        since = verdict.since if wanted == verdict.wanted else timestamp
        label = verdict.label
        if wanted == label:
            since = timestamp
        elif timestamp - since >= self.cfg.dwell_seconds - 1e-9:
            label = wanted
        return Verdict(label, smoothed, wanted, since, timestamp, why)

    def _wanted(self, smoothed: np.ndarray, shown: str) -> tuple[str, str]:
        """What the smoothed scores ask to show, given what is shown now, and why.

        Hysteresis comes before the margin test: an emotion on screen that is still within
        ``hysteresis`` of the leader stays, rather than passing through unsure on its way out.
        """
        cfg = self.cfg
        order = np.argsort(smoothed)
        best, second = int(order[-1]), int(order[-2])
        top, lead = float(smoothed[best]), float(smoothed[best] - smoothed[second])
        name = EMOTIONS[best]
        if top < cfg.unsure_below:
            return self._unsure(shown, f"unsure: top {top:.2f} < {cfg.unsure_below:.2f}")
        if shown in EMOTIONS and name != shown:
            behind = top - float(smoothed[EMOTIONS.index(shown)])
            if behind < cfg.hysteresis:
                return shown, f"{name} leads {shown} by {behind:.2f} < {cfg.hysteresis:.2f}"
        if lead < cfg.unsure_margin and name != shown:
            return self._unsure(shown, f"unsure: lead {lead:.2f} < {cfg.unsure_margin:.2f}")
        return name, f"{name} {top:.2f}"

    def _unsure(self, shown: str, why: str) -> tuple[str, str]:
        face = self.cfg.unsure_face
        if face == "neutral":
            return NEUTRAL, why
        if face == "keep" and shown != UNSURE:
            return shown, why
        return UNSURE, why
