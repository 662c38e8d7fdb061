"""Load: 1,000 simulated users talking at once to the real bot process through the local fake
Bot API server — questions, red flags and whole /triage flows. Run by hand:

    python benchmarks/load.py [users] [think seconds]

Each user sends one update, waits for the reply, reads and thinks for 0.5–1.5 × `think` seconds
(default 2), then sends the next, as people do; 1,000 users thinking 2 s offer about 500
updates/s. With think 0 it is a closed loop that finds the ceiling. Reports updates handled per
second, p50/p99/max time from update to reply, and the bot process's peak resident memory.
The bot runs with BOT_RATE_LIMIT=off: Telegram itself would pace a real bot to about 30
messages/s, which is what this measures beyond.
"""

from __future__ import annotations

import heapq
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_telegram import FakeTelegram  # noqa: E402

SCRIPT = [
    ("text", "how long should i ice my back"),
    ("text", "when can i switch to heat"),
    ("text", "i cant feel it when i wipe"),
    ("text", "/triage"),
    *[("press", "no")] * 14,
    ("press", "lower"),
    ("press", "days_1_3"),
    ("press", "mild"),
    ("press", "lifting"),
    ("press", "nothing"),
    ("press", "better"),
]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(users: int, think: float) -> None:
    fake = FakeTelegram().start()
    data = Path(tempfile.mkdtemp())
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456:LOAD", "TELEGRAM_API_BASE_URL": fake.base_url,
           "BOT_DATA_DIR": str(data), "BOT_RATE_LIMIT": "off"}
    profile = os.environ.get("LOAD_PROFILE")
    command = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []), "-m", "bot", "run"]
    bot = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    fake.send_text(1, "/start")
    while not fake.sent(1):
        time.sleep(0.05)
    ids = list(range(100_000, 100_000 + users))
    position = dict.fromkeys(ids, 0)
    pushed_at: dict[int, float] = {}
    latencies: list[float] = []
    start = time.perf_counter()

    def push(user: int) -> None:
        kind, value = SCRIPT[position[user]]
        if kind == "text":
            fake.send_text(user, value)
        else:
            last = fake.last[user]
            markup = json.loads(last["reply_markup"])
            data = next(b["callback_data"] for row in markup["inline_keyboard"] for b in row if b["callback_data"].endswith(":" + value))
            fake.press(user, data)
        pushed_at[user] = time.perf_counter()

    replies: queue.Queue[tuple[int, float]] = queue.Queue()
    fake.on_send = lambda chat, at: replies.put((chat, at))
    rng = random.Random(5)
    due: list[tuple[float, int]] = [(start + rng.uniform(0, think), user) for user in ids]
    heapq.heapify(due)
    remaining = set(ids)
    while remaining:
        now = time.perf_counter()
        while due and due[0][0] <= now:
            push(heapq.heappop(due)[1])
        try:
            user, at = replies.get(timeout=max(0.0005, (due[0][0] - now) if due else 0.05))
        except queue.Empty:
            continue
        if user not in remaining:
            continue
        latencies.append(at - pushed_at[user])
        position[user] += 1
        if position[user] == len(SCRIPT):
            remaining.discard(user)
        else:
            heapq.heappush(due, (at + rng.uniform(0.5, 1.5) * think, user))
    elapsed = time.perf_counter() - start
    rss = peak_rss_mb(bot.pid)
    fields = Path(f"/proc/{bot.pid}/stat").read_text().rsplit(")", 1)[1].split()
    bot_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own_cpu = time.process_time()
    bot.terminate()
    bot.wait()
    fake.stop()
    latencies.sort()
    total = len(latencies)
    print(f"{users} users (think {think} s), {total} updates in {elapsed:.1f} s: {total / elapsed:,.0f} updates/s")
    p50, p99 = latencies[total // 2], latencies[int(total * 0.99)]
    print(f"update → reply: p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * latencies[-1]:.0f} ms")
    print(f"bot peak resident memory: {rss:.0f} MB")
    print(f"CPU seconds: bot {bot_cpu:.1f}, fake server and simulated users {own_cpu:.1f} (wall {elapsed:.1f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)
