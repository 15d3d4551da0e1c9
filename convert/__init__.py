"""Model pipeline: FER2013 → Keras training → full-int8 TFLite → evaluation; asset scripts."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# TensorFlow's C++ start-up chatter buries the scripts' own progress lines; keep warnings+.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class ConvertError(Exception):
    """A problem with an input of a convert/ script; the message is one line naming the fix."""


def run_script(main: Callable[[], int], *expected: type[BaseException]) -> None:
    """Exit with ``main()``'s status; an expected failure is one ``error: …`` line and status 2, never a traceback."""
    from edge_emojify.errors import UserError

    try:
        sys.exit(main())
    except (ConvertError, UserError, OSError, *expected) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)  # bad input, as everywhere in the project: one line, status 2
