"""The one error task.py raises."""


class DataError(Exception):
    """The data directory is missing or holds something else than expected (one-line message):
    the run exits 2 with it."""
