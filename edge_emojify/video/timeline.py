"""A video's mood over time: per frame and face, the shown label and the seven smoothed scores.

Only what the user asks for is stored: with ``--timeline`` a CSV (time, track id, label, scores)
and a PNG plot beside it; without it nothing but the label counts for the closing summary. No
image, box or anything else of a face is kept.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edge_emojify.errors import UserError
from edge_emojify.labels import EMOTIONS
from edge_emojify.types import Track

FIELDS = ("time", "track", "label", *EMOTIONS)
MIN_FACE_SECONDS = 0.5  # a track shorter than this is a passing false detection, not a face "seen"
PLOT_TRACKS = 6  # the longest-lived tracks plotted; the CSV has them all


@dataclass
class Timeline:
    keep_rows: bool = False
    rows: list[tuple[float, int, str, tuple[float, ...]]] = field(default_factory=list)
    shown: Counter[str] = field(default_factory=Counter)  # face-frames per shown label
    _span: dict[int, tuple[float, float]] = field(default_factory=dict)  # track → first, last time

    def add(self, time: float, tracks: list[Track]) -> None:
        for t in tracks:
            self.shown[t.label] += 1
            first, _ = self._span.get(t.track_id, (time, time))
            self._span[t.track_id] = (first, time)
            if self.keep_rows:
                self.rows.append((time, t.track_id, t.label, tuple(float(p) for p in t.scores)))

    def faces_seen(self) -> int:
        return sum(1 for first, last in self._span.values() if last - first >= MIN_FACE_SECONDS)

    def summary(self) -> str:
        total = sum(self.shown.values())
        if not total:
            return "mood: no faces seen"
        shares = ", ".join(f"{label} {count / total:.0%}" for label, count in self.shown.most_common())
        return f"mood: {self.faces_seen()} face(s) seen for at least {MIN_FACE_SECONDS} s; time shown: {shares}"

    def write_csv(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(FIELDS)
                for time, track, label, scores in self.rows:
                    writer.writerow([f"{time:.3f}", track, label, *(f"{p:.4f}" for p in scores)])
        except OSError as exc:
            raise UserError(f"cannot write the timeline {path} ({exc.strerror}); choose another --timeline") from None

    def write_png(self, path: Path) -> None:
        """Each long-lived track's seven smoothed scores over time, stacked, one panel per track."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise UserError("the timeline plot needs matplotlib; pip install 'edge-emojify[video]'") from None
        from edge_emojify.render.modes import COLOURS

        by_track: dict[int, list[tuple[float, tuple[float, ...]]]] = {}
        for time, track, _, scores in self.rows:
            by_track.setdefault(track, []).append((time, scores))
        longest = sorted(by_track, key=lambda k: len(by_track[k]), reverse=True)[:PLOT_TRACKS]
        fig, axes = plt.subplots(max(1, len(longest)), 1, figsize=(10, 1.8 + 1.6 * len(longest)), squeeze=False)
        colours = [tuple(c / 255 for c in reversed(COLOURS[name])) for name in EMOTIONS]
        for ax, track in zip(axes[:, 0], sorted(longest), strict=False):
            times = [t for t, _ in by_track[track]]
            series = list(zip(*(s for _, s in by_track[track]), strict=True))
            ax.stackplot(times, series, labels=EMOTIONS, colors=colours)
            ax.set_ylim(0, 1)
            ax.set_ylabel(f"face {track}")
        if not longest:
            axes[0, 0].text(0.5, 0.5, "no faces", ha="center", va="center")
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        axes[-1, 0].set_xlabel("seconds")
        fig.suptitle("emotion over time (smoothed scores)")
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=100)
        except OSError as exc:
            raise UserError(f"cannot write the timeline plot {path} ({exc.strerror}); choose another "
                            "--timeline") from None
        finally:
            plt.close(fig)
