"""edge-emojify: a camera mirror that draws an emoji over every face, matching its expression."""

__version__ = "0.1.0"
