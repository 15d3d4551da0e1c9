"""The mood history: how many faces showed each emotion, per hour. Nothing else is kept.

A face is counted once, with the first emotion it is shown with (a face that is only ever
"unsure" is not counted); a track id is a number the tracker reuses nowhere and this module
forgets as soon as the face leaves. Rows are ``(hour, label, count)`` in an SQLite file, pruned
to ``web.history_days``: no images, no boxes, no scores, no identities.

The frame loop only adds to an in-memory tally under a short lock; the web thread writes it to
the file (and answers queries), so the loop never waits for a disk.
"""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from edge_emojify.errors import UserError
from edge_emojify.labels import EMOTIONS, UNSURE
from edge_emojify.types import Track

log = logging.getLogger(__name__)

SCHEMA = """CREATE TABLE IF NOT EXISTS mood (
    hour TEXT NOT NULL,   -- UTC, "2026-12-02T14:00Z"
    label TEXT NOT NULL,  -- one of the seven emotions
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, label))"""


def hour_of(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(epoch))


class MoodHistory:
    """Hourly counts per emotion; :meth:`observe` from the frame loop, the rest from the web thread."""

    def __init__(self, path: Path, days: int, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.days = days
        self.clock = clock
        self._counted: set[int] = set()  # live track ids already counted (frame loop only)
        self._pending: Counter[tuple[str, str]] = Counter()
        self._pending_lock = threading.Lock()
        self._db_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            with self._db:
                self._db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"cannot open the mood history {self.path}: {exc}; set web.history_path to a "
                            "writable file") from None

    # -- the frame loop ------------------------------------------------------------------------

    def observe(self, tracks: Iterable[Track]) -> None:
        """Count each face that newly shows an emotion; O(faces), no I/O."""
        live = set()
        new: list[str] = []
        for t in tracks:
            live.add(t.track_id)
            if t.track_id not in self._counted and t.label != UNSURE:
                self._counted.add(t.track_id)
                new.append(t.label)
        self._counted &= live
        if new:
            hour = hour_of(self.clock())
            with self._pending_lock:
                self._pending.update((hour, label) for label in new)

    # -- the web thread ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the tally to the file and drop rows older than ``history_days``."""
        with self._pending_lock:
            pending, self._pending = self._pending, Counter()
        cutoff = hour_of(self.clock() - self.days * 86400)
        with self._db_lock, self._db:
            self._db.executemany("INSERT INTO mood (hour, label, count) VALUES (?, ?, ?) ON CONFLICT(hour, label) "
                                 "DO UPDATE SET count = count + excluded.count",
                                 [(h, label, n) for (h, label), n in pending.items()])
            self._db.execute("DELETE FROM mood WHERE hour < ?", (cutoff,))

    def rows(self) -> list[tuple[str, str, int]]:
        """Every kept (hour, label, count), oldest first, the tally included."""
        self.flush()
        with self._db_lock:
            return [(h, label, int(n)) for h, label, n in
                    self._db.execute("SELECT hour, label, count FROM mood ORDER BY hour, label")]

    def as_json(self) -> dict[str, object]:
        return {"labels": list(EMOTIONS), "days": self.days,
                "rows": [{"hour": h, "label": label, "count": n} for h, label, n in self.rows()]}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["hour", "label", "count"])
        writer.writerows(self.rows())
        return out.getvalue()

    def close(self) -> None:
        try:
            self.flush()
        except sqlite3.Error as exc:
            log.warning("mood history: last counts not written: %s", exc)
        with self._db_lock:
            self._db.close()
