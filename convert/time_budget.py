"""Train for a wall-clock budget: anneal the learning rate over time, not steps, and stop in time.

Why: on a lent GPU the epoch time is unknown until the run starts (several trainings share one
chip, each compiles first), and the session's device minutes are fixed. A step-based cosine
schedule sized by guesswork either runs past the budget or ends with the learning rate still
high. Here the cosine follows the share of the budget already spent, so whatever the speed, the
last epochs run at the lowest rate and the run ends before the budget does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras


def budget_lr(epoch: int, spent: float, budget: float, lr: float, warmup_epochs: int,
              alpha: float = 0.01) -> float:
    """Learning rate for the epoch that starts after ``spent`` of ``budget`` seconds.

    Linear warm-up from ``lr / 10`` over the first ``warmup_epochs``, then cosine from ``lr`` down to
    ``alpha · lr`` as ``spent`` goes to ``budget`` (the shape of ``keras.optimizers.schedules.CosineDecay``
    with warm-up, which the epoch-count mode uses).
    """
    if epoch < warmup_epochs:
        return lr / 10 + (lr - lr / 10) * (epoch + 1) / warmup_epochs
    done = min(1.0, spent / budget)
    return lr * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)))


class TimeBudget(keras.callbacks.Callback):
    """Sets the learning rate at each epoch start from the time spent; stops before the budget ends.

    ``spent`` carries over a resumed run's training seconds (kept in ``state.json``). ``clock`` is
    injectable so that tests can drive the schedule without waiting.
    """

    def __init__(self, minutes: float, lr: float, warmup_epochs: int = 3, spent: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.budget, self.lr, self.warmup_epochs = minutes * 60.0, lr, warmup_epochs
        self.spent, self.clock = spent, clock
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = self.clock()
        self.model.optimizer.learning_rate = budget_lr(epoch, self.spent, self.budget, self.lr, self.warmup_epochs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = self.clock() - self.started
        self.spent += seconds
        if self.spent + seconds > self.budget:  # the next epoch, as long as this one, would not fit
            self.model.stop_training = True

    @property
    def learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
