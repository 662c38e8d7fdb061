"""The errors the command line turns into one line instead of a traceback: broken content (exit
code 1) and a start-up the configuration does not allow (exit code 2)."""


class ContentError(Exception):
    """A content file is broken; the message names the file, the entry and the problem."""


class StartupError(Exception):
    """The bot cannot start as configured (token, API address, database, data folder, port); the
    message names the problem and what to do, printed as one line with exit code 2."""
