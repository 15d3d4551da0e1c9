"""Waiting in tests: for a condition, with a generous deadline, never for a fixed time.

A wait ends as soon as its condition holds, so a slow or loaded machine makes a test slower,
not red; the deadline only decides how long a broken run takes to fail. Under emulation (the
arm64 CI runs the models about a hundred times slower) ``EDGE_EMOJIFY_TEST_TIME_SCALE`` widens
every deadline by that factor; what the test checks stays the same.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.01  # how often the condition is looked at; the condition, not this, ends the wait
SCALE = float(os.environ.get("EDGE_EMOJIFY_TEST_TIME_SCALE", "1"))


def wait_for(condition: Callable[[], T], seconds: float = 10.0, what: str | Callable[[], str] | None = None) -> T:
    """The condition's first true value; fails after ``seconds`` saying what it waited for.

    ``what`` (text, or a function for text known only at the end) names the condition in the
    failure; by default it is the condition's source.
    """
    seconds *= SCALE
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what or _source(condition)
            raise AssertionError(f"timed out after {seconds:g} s waiting for {said}")
        time.sleep(POLL)
    return value


def _source(condition: Callable[[], object]) -> str:
    """``lambda: app.frames >= 2``, out of the line ``wait_for(lambda: app.frames >= 2)  # ...``."""
    try:
        lines = inspect.getsource(condition).splitlines()
    except (OSError, TypeError):
        return repr(condition)
    text = " ".join(line.split(" #")[0].strip() for line in lines)
    text = text[text.find("lambda"):] if "lambda" in text else text
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1]
    return text
