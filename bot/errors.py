"""The one error every content loader raises, so callers catch a single type."""


class ContentError(Exception):
    """A content file is broken; the message names the file, the entry and the problem."""
