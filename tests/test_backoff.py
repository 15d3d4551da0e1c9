"""The camera's retry schedule, on an injected clock: deterministic, no sleeping."""

from __future__ import annotations

import itertools
import threading

from fakes import RecordingSink

from edge_emojify.app import App
from edge_emojify.backoff import Backoff
from edge_emojify.config import Config, SourceConfig
from edge_emojify.sources.base import SourceError


def test_delays_double_up_to_eight_seconds_and_a_success_starts_over():
    now = [100.0]
    retry = Backoff(lambda: now[0])
    assert retry.due() and retry.failures == 0
    assert [retry.failed() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    now[0] += 7.99
    assert not retry.due()
    now[0] += 0.01
    assert retry.due()
    retry.succeeded()
    assert retry.due() and retry.failed() == 0.5 and retry.failures == 1


def test_the_app_retries_a_missing_camera_on_that_schedule():
    ticks = itertools.count(0.0, 0.25)  # every look at the clock moves it on a quarter second
    now = [0.0]

    def clock() -> float:
        now[0] = next(ticks)
        return now[0]

    attempts: list[float] = []

    def factory(cfg):
        attempts.append(now[0])
        if len(attempts) == 5:
            app.stop()
        raise SourceError("no camera")

    app = App(Config(source=SourceConfig(kind="camera")), source_factory=factory,
              sink_factory=lambda c, size, fps: RecordingSink(), clock=clock, threaded=False)
    runner = threading.Thread(target=app.run)
    runner.start()
    runner.join(20)
    assert not runner.is_alive()
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # Each failure is stamped one tick after its attempt, so every gap is the delay plus that tick.
    assert gaps == [0.5 + 0.25, 1.0 + 0.25, 2.0 + 0.25, 4.0 + 0.25]
