"""Settings read from the environment (CONTRACT.md section 4), in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import StartupError


@dataclass(frozen=True)
class Settings:
    """What the environment configures; unset values fall back to the documented defaults."""

    token: str | None = field(repr=False)  # never printed with the settings
    api_base_url: str | None
    data_dir: Path
    emergency_number: str | None
    urgent_number: str | None
    crisis_line: str | None
    webhook_url: str | None
    webhook_secret: str | None
    listen: str
    port: int
    telegram_limits: bool = True
    http: str = "aiohttp"
    database_url: str | None = field(default=None, repr=False)  # may hold a password

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            token=env.get("TELEGRAM_BOT_TOKEN") or None,
            api_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            data_dir=Path(env.get("BOT_DATA_DIR") or "./data"),
            emergency_number=env.get("EMERGENCY_NUMBER") or None,
            urgent_number=env.get("URGENT_NUMBER") or None,
            crisis_line=env.get("CRISIS_LINE") or None,
            webhook_url=env.get("WEBHOOK_URL") or None,
            webhook_secret=env.get("WEBHOOK_SECRET") or None,
            listen=env.get("WEBHOOK_LISTEN") or "0.0.0.0",
            port=_port(env.get("PORT") or "8443"),
            telegram_limits=(env.get("BOT_RATE_LIMIT") or "telegram") != "off",
            http=env.get("BOT_HTTP") or "aiohttp",
            database_url=env.get("DATABASE_URL") or None,
        )


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StartupError(f"PORT must be a port number (1-65535), not {value!r}")
    return int(value)
