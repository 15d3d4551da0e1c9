"""``python -m edge_emojify`` is the same as the ``edge-emojify`` command."""

import sys

from edge_emojify.cli import main

sys.exit(main())
