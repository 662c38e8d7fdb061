"""Where artefacts the bot can rebuild from its own files are kept between starts (the trained
classifier, the English word list): `BOT_CACHE_DIR`, else the user's cache folder. Losing the
folder costs one slower start, nothing else."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("BOT_CACHE_DIR")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backspasm-bot"


def cached_lines(name: str, build: Callable[[], list[str]]) -> list[str]:
    """The lines of cache file `name`, built (and saved, when the folder is writable) if absent."""
    path = cache_dir() / name
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        pass
    lines = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as handle:
            handle.write("\n".join(lines))
        os.replace(handle.name, path)
    except OSError:
        pass
    return lines
