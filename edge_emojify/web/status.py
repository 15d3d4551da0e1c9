"""What the status page and ``/api/status`` add to the App's own figures: the model and recent errors."""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path
from typing import Any

from edge_emojify import model_card


class RecentErrors(logging.Handler):
    """Keeps the last few WARNING-or-worse log lines for the page (the journal keeps them all)."""

    def __init__(self, keep: int = 10) -> None:
        super().__init__(logging.WARNING)
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.emitted = 0  # all lines ever kept, so a reader can tell the list changed
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
            self._lines.append(f"{stamp} {self.format(record)}")
            self.emitted += 1
        except Exception:  # a logging handler must never raise into the code that logged
            self.handleError(record)

    def lines(self) -> list[str]:
        return list(self._lines)


def model_summary(model: Path) -> dict[str, Any]:
    """The emotion model's file name and its measured int8 accuracy, from the card beside it."""
    summary: dict[str, Any] = {"name": model.name, "accuracy": None, "measured_on": None}
    try:
        card = model_card.read(model_card.card_path(model))
        summary["accuracy"] = float(card["evaluation"]["int8"]["accuracy"]["all"])
        summary["measured_on"] = "FER2013 PublicTest + PrivateTest, int8"
    except Exception:  # noqa: BLE001 - a card without the figure still runs; the page says "unknown"
        pass
    return summary
