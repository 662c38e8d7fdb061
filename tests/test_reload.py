"""A running bot takes up a content edit without a restart, and refuses a broken one."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.content import content_files, load
from bot.reload import ContentWatcher
from tests.conftest import settings_for, until

QUESTION = "how long should i ice my back"
OLD = "Here's how to ice it:"
NEW = "Here is the edited way to ice it:"
#: Long enough for a brain to be built from the classifier's cache; a hang still ends the test.
DEADLINE = 60.0


@pytest.fixture
def copy(content_copy: Path) -> Path:
    return content_copy


def _edit(path: Path, *changes: tuple[str, str]) -> None:
    """Change the file in one step, as editors save (a poll never sees it half written)."""
    text = path.read_text()
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    draft = path.with_suffix(".draft")
    draft.write_text(text)
    os.replace(draft, path)


class Swaps:
    """The brains the watcher handed over, and an event for the first."""

    def __init__(self) -> None:
        self.brains: list[Brain] = []
        self.done = asyncio.Event()

    def __call__(self, brain: Brain) -> None:
        self.brains.append(brain)
        self.done.set()


def _watcher(root: Path, swaps: Swaps, interval: float) -> ContentWatcher:
    return ContentWatcher(lambda: Brain(load(root), settings_for(root)), swaps, lambda: content_files(root), interval=interval)


async def test_an_edited_answer_is_taken_up_without_a_restart(copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.reload")
    swaps = Swaps()
    watcher = _watcher(copy, swaps, interval=0.05)
    await watcher.start()
    try:
        _edit(copy / "intents" / "immediate_relief.yaml", (OLD, NEW))
        await asyncio.wait_for(swaps.done.wait(), DEADLINE)
    finally:
        await watcher.stop()
    assert swaps.brains[0].answer(QUESTION).text.startswith(NEW)
    assert any(r.levelno == logging.INFO and "content reloaded" in r.getMessage() for r in caplog.records)


async def test_a_broken_edit_is_refused_with_one_warning_and_the_old_content_stays(copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    swaps = Swaps()
    watcher = _watcher(copy, swaps, interval=0.05)
    await watcher.start()
    try:
        _edit(copy / "faq.yaml", ("topic: basics", "topic: astrology"), ("    source:", "    sauce:"))
        await until(lambda: any(r.levelno == logging.WARNING for r in caplog.records), DEADLINE)
        refused = await watcher.reload()
    finally:
        await watcher.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not refused and not swaps.brains
    assert len(warnings) == 2, "one warning per refused reload: the watcher's, then the explicit one"
    assert "2 problems:" in warnings[0] and "'astrology'" in warnings[0] and "'source' must be a non-empty text" in warnings[0]
    assert all(line.strip().startswith("faq.yaml:") for line in warnings[0].splitlines()[1:]), "each problem names its file and line"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_reloads_at_once(copy: Path) -> None:
    swaps = Swaps()
    watcher = _watcher(copy, swaps, interval=3600)  # the files are not polled within the test
    await watcher.start()
    try:
        _edit(copy / "intents" / "immediate_relief.yaml", (OLD, NEW))
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(swaps.done.wait(), DEADLINE)
    finally:
        await watcher.stop()
    assert swaps.brains[0].answer(QUESTION).text.startswith(NEW)


async def test_the_running_bot_answers_from_the_edit(copy: Path, fake, tmp_path: Path) -> None:
    """A clinician's loop end to end: the bot process runs, the answer is edited, the next user
    gets the edited answer; no restart."""
    from tests.bot_process import BotProcess, environment

    bot = BotProcess(environment(tmp_path / "data", fake.base_url, BOT_CONTENT_DIR=str(copy)), tmp_path)
    try:
        await bot.printed("long polling started")
        fake.send_text(7701, QUESTION)
        await until(lambda: fake.sent(7701), DEADLINE)
        assert fake.sent(7701)[0]["text"].startswith(OLD)
        _edit(copy / "intents" / "immediate_relief.yaml", (OLD, NEW))
        await bot.printed("content reloaded")
        fake.send_text(7702, QUESTION)
        await until(lambda: fake.sent(7702), DEADLINE)
    finally:
        bot.kill()
    assert fake.sent(7702)[0]["text"].startswith(NEW)
