"""User input: keyboard keys arrive through the sink; the GPIO button through controls.button.

Both produce the same event strings so one handler in the app serves both:
``"next"`` (show the next mode), ``"hold"`` (run the configured hold action), ``"quit"``.
"""

NEXT = "next"
HOLD = "hold"
QUIT = "quit"
