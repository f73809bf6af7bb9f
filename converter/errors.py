"""The one exception type a user sees: its message is printed as a single line by the CLI."""


class AlogError(Exception):
    """A problem with the user's input or environment, explained in one line."""
