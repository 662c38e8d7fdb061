"""Memory per distinct user: 45,000 people each send one question to the real bot process through
the local fake Bot API of benchmarks/load.py. Run by hand:

    python benchmarks/memory.py [users]

The probe measured 63 → 124 MB after 45,000 users (about 1.3 KB each, never released); the
target is under 20 MB of growth. Reported: the bot's resident memory after a warm-up of 2,000
users (so start-up and the first caches are not counted), after all of them, and after they
have been quiet for longer than the flood window, when nothing per user should be left in memory.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import FakeBotApi, message, start_bot  # the load benchmark's stand-in for Telegram

WARM_UP = 2_000
WAVE = 500
QUESTIONS = ["how long should i ice my back", "when can i switch to heat", "which painkillers help", "hi", "/start"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def ask(api: FakeBotApi, users: range) -> None:
    """Each user sends one question; wait for every reply."""
    loop = asyncio.get_running_loop()
    for start in range(users.start, users.stop, WAVE):
        wave = range(start, min(start + WAVE, users.stop))
        futures = []
        for user in wave:
            futures.append(api.waiting.setdefault(user, loop.create_future()))
            api.push(message(user, QUESTIONS[user % len(QUESTIONS)]))
        await asyncio.wait_for(asyncio.gather(*futures), 120)


async def main(users: int) -> None:
    api, runner, bot = await start_bot("123456:MEMORY")
    try:
        first = 1_000_000
        await ask(api, range(first, first + WARM_UP))
        warm = rss_mb(bot.pid)
        start = time.perf_counter()
        await ask(api, range(first + WARM_UP, first + WARM_UP + users))
        elapsed = time.perf_counter() - start
        after = rss_mb(bot.pid)
        await asyncio.sleep(11)  # past the flood window (10 s): nothing per user should remain
        await ask(api, range(first - 1, first))  # one more update, so the guard drops the quiet ones
        quiet = rss_mb(bot.pid)
    finally:
        bot.terminate()
        bot.wait()
        await runner.cleanup()
    print(f"{users:,} distinct users, one question each, in {elapsed:.1f} s")
    print(f"bot resident memory: {warm:.1f} MB after {WARM_UP:,} warm-up users, {after:.1f} MB after all, {quiet:.1f} MB once quiet")
    print(f"growth: {after - warm:+.1f} MB ({1024 * (after - warm) / users:.2f} KB per user); target < 20 MB")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 45_000))
