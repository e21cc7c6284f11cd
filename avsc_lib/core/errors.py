"""The project's error type: a message for the user that names the file and the problem."""


class AvscError(Exception):
    """An error the user can act on; the CLI prints its message without a traceback."""
