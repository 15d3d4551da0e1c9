"""The one place that fixes the emotion class order.

The order is that of the original Kaggle ``fer2013.csv`` (column ``emotion``), which is
*not* alphabetical. The model's output index ``i`` means ``EMOTIONS[i]``; the model card
(``models/emotion.json``) repeats it and the app checks the two agree at start-up.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
NEUTRAL = "neutral"
UNSURE = "unsure"  # shown instead of an emotion when the decision is not sure enough (edge_emojify.decision)

# Emoji shown for each class; the artwork script renders these code points from Noto Color Emoji.
EMOJI_CODEPOINTS: dict[str, str] = {
    "angry": "\U0001f620",  # angry face
    "disgust": "\U0001f922",  # nauseated face
    "fear": "\U0001f628",  # fearful face
    "happy": "\U0001f604",  # grinning face with smiling eyes
    "sad": "\U0001f622",  # crying face
    "surprise": "\U0001f62e",  # face with open mouth
    "neutral": "\U0001f610",  # neutral face
    "noface": "\U0001f440",  # eyes: the idle screen
    "unsure": "\U0001f914",  # thinking face: the decision is not sure enough to name an emotion
}
