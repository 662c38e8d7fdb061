"""The bot as its own process (`python -m bot run`), for the tests of what it prints and how it
starts and stops: its standard error goes to a file the test reads while it runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

TOKEN = "123456:PROCESS-SECRET-never-printed"


def environment(data: Path, base_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "BOT_"))}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, BOT_DATA_DIR=str(data), **extra)
    if base_url:
        env["TELEGRAM_API_BASE_URL"] = base_url
    return env


class BotProcess:
    """`python -m bot [args]` with `env`; `stderr` is what it has printed so far."""

    def __init__(self, env: dict[str, str], folder: Path, *args: str, **popen: Any) -> None:
        self.errors = folder / "stderr.txt"
        with self.errors.open("wb") as sink:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", *(args or ["run"])], cwd=ROOT, env=env,
                                         stdout=subprocess.DEVNULL, stderr=sink, **popen)

    @property
    def stderr(self) -> str:
        return self.errors.read_text(errors="replace")

    async def exits(self, seconds: float = 300.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        await until_true(lambda: self.proc.poll() is not None, seconds)
        return self.proc.returncode

    async def printed(self, text: str, seconds: float = 300.0) -> None:
        """Wait until the process has printed `text`: generous, since a first start after a content
        edit trains the classifier (about 15 s alone, minutes on a busy machine); a process that
        ends without printing it fails at once."""
        await until_true(lambda: text in self.stderr or self.proc.poll() is not None, seconds, lambda: self.stderr)
        assert text in self.stderr, f"the bot ended (exit {self.proc.returncode}) without printing {text!r}:\n{self.stderr}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def until_true(predicate: Callable[[], bool], seconds: float, show: Callable[[], str] = lambda: "") -> None:
    for _ in range(int(seconds / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out; {show()[-2000:]}")
