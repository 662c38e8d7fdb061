"""Content edits taken up by a running bot, without a restart.

A clinician edits a YAML file; within `interval` seconds, or at once on SIGHUP (`kill -HUP <pid>`),
the watcher builds a new Brain from the files in a worker thread (retraining the classifier after
an edit takes about 15 seconds, and the replies must not wait for it) and hands it to `swap`. The
Brain validates the content before anything is built, so a broken edit is refused with one warning
that lists every problem (file:line), and the bot keeps answering from the content it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.content import ContentError, content_files, default_root

if TYPE_CHECKING:
    from bot.brain import Brain

logger = logging.getLogger(__name__)

#: A file as seen from outside: its modification time (ns) and its size.
Stamp = tuple[int, int]


def stamps(paths: list[Path]) -> dict[Path, Stamp]:
    """The stamp of every file that exists: an edit, a new file and a deleted one all change them."""
    found = {}
    for path in paths:
        with contextlib.suppress(OSError):
            info = path.stat()
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


class ContentWatcher:
    """Reloads the content when one of its files changes, or when the process gets SIGHUP.

    `load_brain` builds a Brain from the files (`Brain.load` validates them first, then indexes),
    `swap` puts it in use, `paths` lists the files to watch (by default those `content.load()`
    reads, under BOT_CONTENT_DIR or the repository).
    """

    def __init__(
        self,
        load_brain: Callable[[], Brain],
        swap: Callable[[Brain], None],
        paths: Callable[[], list[Path]] | None = None,
        interval: float = 2.0,
    ) -> None:
        self._load_brain = load_brain
        self._swap = swap
        self._paths = paths or (lambda: content_files(default_root()))
        self.interval = interval
        self._lock = asyncio.Lock()  # one reload at a time; a second request waits, then reloads again
        self._seen: dict[Path, Stamp] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._hangup = False

    async def start(self) -> None:
        """Watch the files every `interval` seconds and, where the platform has it, reload on SIGHUP."""
        self._seen = stamps(self._paths())
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_hangup)
            self._hangup = True
        except (AttributeError, NotImplementedError, RuntimeError):  # no SIGHUP (Windows), or not the main thread
            logger.info("no SIGHUP here: content edits are taken up by watching the files only")
        self._spawn(self._watch())

    async def stop(self) -> None:
        """Stop watching; a reload under way is abandoned (its thread finishes, nothing is swapped)."""
        if self._hangup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._hangup = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reload(self) -> bool:
        """Build the content anew and put it in use; whether it was. A broken edit is refused with
        one warning, and the content in use stays."""
        async with self._lock:
            self._seen = stamps(self._paths())  # an edit made while this one builds is taken up next
            try:
                brain = await asyncio.to_thread(self._load_brain)
                self._swap(brain)
            except ContentError as exc:
                logger.warning("content edit refused, the bot keeps the content it has: %s", exc)
                return False
            except Exception:  # a bug, not an edit: the watcher must go on watching
                logger.exception("content reload failed, the bot keeps the content it has")
                return False
        logger.info("content reloaded: %d entries, %d warning signs", len(brain.content.entries), len(brain.content.signs))
        return True

    def _on_hangup(self) -> None:
        logger.info("SIGHUP: reloading the content")
        self._spawn(self.reload())

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run a coroutine as a task the watcher holds (the loop keeps only weak references)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if stamps(self._paths()) != self._seen:
                await self.reload()
