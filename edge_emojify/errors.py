"""The one exception type that reaches the user as a single line instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix. ``str(exc)`` names the problem and the fix in one line."""
