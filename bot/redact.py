"""Keeps the bot token out of everything the process prints.

python-telegram-bot puts the token into request URLs and into its own error messages ("The token
`…` was rejected"), and a traceback prints them wherever they are. So the token is replaced in
every log record (message, traceback and stack, from any library, at any level), in uncaught
exceptions of the main thread and of other threads, and in the error lines the bot prints itself.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

MASK = "[token]"
_secrets: list[str] = []
_formatter = logging.Formatter()


def redact(text: str) -> str:
    """`text` with every protected secret masked."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


def protect(token: str | None) -> None:
    """Mask `token` from now on, and its secret part (after the colon) on its own too, as it
    appears URL-encoded; the hooks are installed once per process."""
    if not token:
        return
    if not _secrets:
        _install()
    secret = token.partition(":")[2]
    for part in (token, secret):
        if part and part not in _secrets:
            _secrets.append(part)
    _secrets.sort(key=len, reverse=True)  # the whole token before its part


def _install() -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: logging reports it, with the text masked
            message = str(record.msg)
        if redact(message) != message:
            record.msg, record.args = redact(message), ()
        if record.exc_info:
            record.exc_text, record.exc_info = redact(_formatter.formatException(record.exc_info)), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def _excepthook(kind: type[BaseException], error: BaseException | None, trace: TracebackType | None) -> None:
    """An uncaught exception's traceback, as Python prints it, with the token masked."""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, error, trace))))


def _thread_excepthook(hook: threading.ExceptHookArgs) -> None:
    if hook.exc_type is not SystemExit:  # as Python's own hook: a thread's SystemExit is quiet
        _excepthook(hook.exc_type, hook.exc_value, hook.exc_traceback)
